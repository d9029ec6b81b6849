"""`modelgate models import|list|show|set|enable|disable|delete`: the catalog of model objects and their metadata."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from handler.core import codex
from handler.core.catalog import LIFECYCLES, METADATA_FIELDS
from infra.apply import execute, plan, read_state
from infra.catalog_files import load_catalog, merged
from infra.cli.context import CliError, Context, count, progress_bar, table, when
from infra.registry import DISABLED, ENABLED
from infra.seed import Seed, SeedError, canonical, codex_entry, load_document, metadata_value

SETTABLE = (*METADATA_FIELDS, codex.FIELD)  # what `models set` sets and --unset removes


def import_models(ctx: Context, args: argparse.Namespace) -> int:
    try:
        found = load_catalog(Path(args.file))
    except SeedError as error:
        raise CliError(str(error)) from None
    for note in found.notes:
        ctx.info(f"note: {note}")
    state = read_state(ctx.registry, tokens=False)
    # Merged over what is stored: nothing stored is dropped, and statuses operators set stay.
    entries = [merged(state.models.get(e["id"]), e, found.derived) for e in found.entries]
    planned = plan(Seed(models=entries, sections=frozenset({"models"})), state)
    if not args.dry_run:
        execute(planned, ctx.registry, progress_bar(len(planned.models), "importing models"))
    counts = planned.summary().get("models", {})
    added, changed = counts.get("add", 0), counts.get("change", 0)
    rebuilt = list(planned.groups) + planned.views
    result = {
        "file": args.file,
        "format": found.format,
        "dry_run": args.dry_run,
        "models": {"added": added, "changed": changed, "unchanged": len(entries) - added - changed},
        "groups_rebuilt": rebuilt,
        "changes": [c.as_dict() for c in planned.changes],
    }
    lines = [c.line() for c in planned.changes] if args.dry_run else []
    verb = "would import" if args.dry_run else "imported"
    lines.append(
        f"{verb} {count(len(entries), 'model')} from {args.file}: {added} added, {changed} changed, "
        f"{len(entries) - added - changed} unchanged"
        + (f"; views rebuilt: {', '.join(rebuilt)}" if rebuilt else "")
        + ("; dry run, nothing written" if args.dry_run else "")
    )
    ctx.emit(result, "\n".join(lines))
    return 0


def list_models(ctx: Context, args: argparse.Namespace) -> int:
    models = [e for e in ctx.registry.catalog().values() if args.status in (None, e["status"])]
    ctx.emit(
        models,
        table(
            ["id", "owned_by", "created", "status"],
            [[e["id"], e.get("owned_by"), when(e.get("created")), e["status"]] for e in models],
        ),
    )
    return 0


def _entry(ctx: Context, model_id: str) -> dict[str, Any]:
    found = ctx.registry.catalog_entries([model_id])
    if model_id not in found:
        raise CliError(f"unknown model {model_id!r}")
    return found[model_id]


def show(ctx: Context, args: argparse.Namespace) -> int:
    entry = _entry(ctx, args.id)
    groups = [name for name, members in ctx.registry.groups().items() if args.id in members]
    shown: dict[str, Any] = {**entry, "groups": ", ".join(groups) or "(none)"}
    if "created" in entry:
        shown["created"] = f"{entry['created']} ({when(entry['created'])})"
    for name in ("permission", "parent", "root", "capabilities"):
        if name in entry:
            shown[name] = json.dumps(entry[name], ensure_ascii=False)
    if isinstance(entry.get(codex.FIELD), dict):  # 40-90 KB of instructions: the terminal gets a summary
        stored = entry[codex.FIELD]
        instructions = stored.get("base_instructions")
        size = f", base_instructions {len(instructions):,} characters" if isinstance(instructions, str) else ""
        servable = "" if codex.is_servable(stored) else "; Codex would refuse it: not served"
        shown[codex.FIELD] = f"Codex entry, {len(stored)} fields{size}{servable} (--json shows it whole)"
    width = max(len(name) + 1 for name in ["permission", *shown])
    lines = [f"{name + ':':<{width}} {value}" for name, value in shown.items()]
    ctx.emit({**entry, "groups": groups}, "\n".join(lines))
    return 0


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _typed(name: str, text: str) -> Any:
    """A flag's text as the field's type; metadata_value then checks it as a seed's would be."""
    if name in ("max_input_tokens", "max_tokens"):
        try:
            return int(text)
        except ValueError:
            raise CliError(f"{_flag(name)}: must be a non-negative integer, not {text!r}") from None
    if name == "capabilities":
        try:
            return json.loads(text)
        except ValueError:
            raise CliError(f"{_flag(name)}: not JSON: {text!r} (e.g. '{{\"vision\": true}}')") from None
    return text


def _codex(text: str, model_id: str) -> Any:
    """`--codex @FILE` (one entry, or Codex's catalog holding this model) or `--codex JSON`: the entry, checked."""
    try:
        value = load_document(Path(text[1:])) if text.startswith("@") else json.loads(text)
    except SeedError as error:
        raise CliError(f"--codex: {error}") from None
    except ValueError:
        raise CliError("--codex: not JSON; give an entry's JSON or @FILE") from None
    if isinstance(value, dict) and isinstance(value.get("models"), list):  # `codex debug models` output
        found = [e for e in value["models"] if isinstance(e, dict) and e.get("slug") == model_id]
        if not found:
            raise CliError(f"--codex: {text[1:]} has no entry with slug {model_id!r}")
        value = found[0]
    try:
        return codex_entry(value, "--codex", model_id)
    except SeedError as error:
        raise CliError(str(error)) from None


def set_metadata(ctx: Context, args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in SETTABLE if getattr(args, name) is not None}
    unset = list(dict.fromkeys(args.unset or []))
    if not given and not unset:
        raise CliError(f"nothing to set: give {', '.join(map(_flag, SETTABLE))} or --unset FIELD")
    both = [name for name in unset if name in given]
    if both:
        raise CliError(f"{_flag(both[0])} and --unset {both[0]} contradict each other")
    values: dict[str, Any] = {}
    for name, text in given.items():
        if name == codex.FIELD:
            values[name] = _codex(text, args.id)
            continue
        try:
            values[name] = metadata_value(name, _typed(name, text), _flag(name))
        except (CliError, SeedError) as error:  # one line naming the model, the field and what is wrong
            raise CliError(f"model {args.id}: {error}") from None
    previous = _entry(ctx, args.id)
    entry = canonical({**{k: v for k, v in previous.items() if k not in unset}, **values})
    changed = [n for n in SETTABLE if (n in previous, previous.get(n)) != (n in entry, entry.get(n))]
    rebuilt = ctx.registry.put_model(entry, previous) if changed else []
    human = (
        f"model {args.id} already has these values; nothing written"
        if not changed
        else f"model {args.id}: set {', '.join(changed)}; views rebuilt: {', '.join(rebuilt) or '(none)'}"
    )
    ctx.emit({"id": args.id, "changed": changed, "model": entry, "groups_rebuilt": rebuilt}, human)
    return 0


def set_status(status: str) -> Any:
    def run(ctx: Context, args: argparse.Namespace) -> int:
        previous = _entry(ctx, args.id)["status"]
        rebuilt = ctx.registry.set_model_status(args.id, status)
        listed = "listed again by its groups" if status == ENABLED else "listed nowhere"
        human = (
            f"model {args.id} is already {status}"
            if previous == status
            else f"{status} model {args.id}: {listed}; views rebuilt: {', '.join(rebuilt) or '(none)'}"
        )
        ctx.emit({"id": args.id, "status": status, "groups_rebuilt": rebuilt}, human)
        return 0

    return run


def delete(ctx: Context, args: argparse.Namespace) -> int:
    groups = ctx.registry.delete_model(args.id)
    ctx.emit(
        {"id": args.id, "deleted": True, "removed_from_groups": groups},
        f"deleted model {args.id}" + (f"; removed it from groups {', '.join(groups)}" if groups else ""),
    )
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    models = commands.add_parser(
        "models",
        help="the model catalog",
        parents=[common],
        description="The catalog: the model objects groups name. Every field given is returned as given.",
    )
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")

    imported = actions.add_parser(
        "import",
        help="import an OpenAI, Anthropic, Gemini or OpenRouter model list, Codex CLI's catalog, or a catalog YAML, "
        "idempotently",
        parents=[common],
        description='Import {"object": "list", "data": [...]} (what GET /v1/models returns), an Anthropic '
        "GET /v1/models or Gemini GET /v1beta/models page, OpenRouter's GET /api/v1/models, Codex CLI's catalog "
        "(`codex debug models`: each entry is stored whole as the model's `codex` field), a YAML `models:` list, "
        "or a bare list; the format is told from the file. Fields are kept as given (a provider's renamed to the "
        "catalog's). Importing merges: it sets what the file gives and keeps the rest (a provider list only fills "
        "created and owned_by, Codex's the display name, description and context window), keeps statuses set "
        "with `models disable` unless the file gives one, writes only what changed, and rebuilds the views of the "
        "groups naming changed models.",
    )
    imported.add_argument("file", help="JSON or YAML file")
    imported.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    imported.set_defaults(run=import_models)

    listed = actions.add_parser("list", help="list the catalog", parents=[common])
    listed.add_argument("--status", choices=[ENABLED, DISABLED], help="only models with this status")
    listed.set_defaults(run=list_models)

    shown = actions.add_parser("show", help="one model's stored fields and the groups naming it", parents=[common])
    shown.add_argument("id", help="model id")
    shown.set_defaults(run=show)

    changed = actions.add_parser(
        "set",
        help="set or unset a model's metadata (display name, token limits, lifecycle...)",
        parents=[common],
        description="Set a catalog model's metadata, shown by the Anthropic and Gemini model lists (and by the "
        "OpenAI one where OPENAI_LIST_METADATA is on), and rebuild the views of the groups naming it, in one "
        "transaction. Flags not given keep their values; --unset FIELD removes one.",
    )
    changed.add_argument("id", help="model id")
    changed.add_argument("--display-name", metavar="TEXT", help="a human-readable name, e.g. 'Claude Sonnet 4'")
    changed.add_argument("--description", metavar="TEXT", help="what the model is for")
    changed.add_argument("--max-input-tokens", metavar="N", help="the context window, in tokens")
    changed.add_argument("--max-tokens", metavar="N", help="the most output tokens of one answer")
    changed.add_argument(
        "--capabilities",
        metavar="JSON",
        help="Anthropic's capabilities object with every capability (as an Anthropic model list gives it)",
    )
    changed.add_argument("--lifecycle", choices=LIFECYCLES, help="default active")
    changed.add_argument("--deprecated-at", metavar="TIME", help="RFC 3339, e.g. 2026-01-01T00:00:00Z, or a date")
    changed.add_argument("--retires-at", metavar="TIME", help="RFC 3339, e.g. 2026-06-01T00:00:00Z, or a date")
    changed.add_argument(
        "--codex",
        metavar="JSON|@FILE",
        help="the model's Codex CLI catalog entry: JSON, or @FILE holding one entry or `codex debug models` output",
    )
    changed.add_argument(
        "--unset",
        action="append",
        metavar="FIELD",
        type=lambda text: text.replace("-", "_"),
        choices=SETTABLE,
        help=f"remove a field (repeatable): {', '.join(SETTABLE)}",
    )
    changed.set_defaults(run=set_metadata)

    for status, verb, text in (
        (DISABLED, "disable", "list a model nowhere (groups keep naming it)"),
        (ENABLED, "enable", "list a disabled model again"),
    ):
        action = actions.add_parser(verb, help=text, parents=[common])
        action.add_argument("id", help="model id")
        action.set_defaults(run=set_status(status))

    deleted = actions.add_parser(
        "delete",
        help="drop a model from the catalog and from every group naming it",
        parents=[common],
        description="Drop a model from the catalog and from every group naming it, in one transaction.",
    )
    deleted.add_argument("id", help="model id")
    deleted.set_defaults(run=delete)
