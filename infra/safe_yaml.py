"""The one way YAML is read (seed files, catalog files, the template): PyYAML's safe loader, with aliases bounded.

An alias is a reference, so a few hundred bytes of nested aliases (`b: &b [*a, *a, ...]`, a "billion laughs")
load in milliseconds, then stand for billions of values to whatever walks the result: `apply --dry-run` spent
36 s on a 561-byte seed. Aliases may add at most MAX_ALIAS_VALUES values to a document, merge keys (`<<: *a`)
included; beyond that, or when an alias refers to a node that contains it, the file is refused.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_ALIAS_VALUES = 10_000
# libyaml's parser when PyYAML has it: 4x faster on a 10,000-model export, the same values.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UnsafeYaml(ValueError):
    """A YAML document whose aliases expand beyond the bound or into themselves, or that nests too deeply.
    The message is one line."""


TOO_MANY = f"its YAML aliases expand to more than {MAX_ALIAS_VALUES:,} extra values; write the values out instead"


class SafeLoader(_Base):  # type: ignore[misc]
    """The safe loader, counting what merge keys copy: a merge is the only expansion done while loading."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.merged_values = 0

    def flatten_mapping(self, node: Any) -> None:
        before = len(node.value)
        super().flatten_mapping(node)
        self.merged_values += max(0, len(node.value) - before)
        if self.merged_values > MAX_ALIAS_VALUES:
            raise UnsafeYaml(TOO_MANY)


def load_yaml(text: str, loader: type[SafeLoader] = SafeLoader) -> Any:
    """The document in `text`. Raises yaml.YAMLError when it is not YAML, UnsafeYaml as above."""
    document = yaml.load(text, Loader=loader)  # noqa: S506  # a safe loader
    check_aliases(document)
    return document


def check_aliases(document: Any) -> None:
    """Refuse a document whose shared (aliased) lists and mappings expand to more than MAX_ALIAS_VALUES values
    beyond those written, or contain themselves. Costs one visit per distinct list or mapping."""
    sizes: dict[int, int] = {}  # expanded size of each distinct container; -1 while it is being visited
    distinct = 0

    def size(value: Any) -> int:
        nonlocal distinct
        if not isinstance(value, list | dict):
            return 1
        known = sizes.get(id(value))
        if known == -1:
            raise UnsafeYaml("a YAML alias refers to a list or mapping that contains it")
        if known is not None:
            return known
        sizes[id(value)] = -1
        children = list(value.values()) if isinstance(value, dict) else value
        distinct += 1 + sum(not isinstance(child, list | dict) for child in children)
        total = 1 + sum(size(child) for child in children)
        sizes[id(value)] = total
        return total

    try:
        expanded = size(document)
    except RecursionError:
        raise UnsafeYaml("its YAML nests lists or mappings too deeply") from None
    if expanded - distinct > MAX_ALIAS_VALUES:
        raise UnsafeYaml(TOO_MANY)
