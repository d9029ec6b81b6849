"""`modelgate group list|show|set|add|remove|delete`: groups, the ordered model lists users see."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from handler.core.catalog import CUSTOM_OWNER
from handler.store import layout
from infra.cli.context import CliError, Context, count, ident, require_catalog, table, unique_ids
from infra.registry import DISABLED


def _group(ctx: Context, name: str) -> dict[str, Any]:
    record = ctx.registry.get(layout.group_key(name))
    if record is None:
        raise CliError(f"unknown group {name!r}")
    return record


def list_groups(ctx: Context, args: argparse.Namespace) -> int:
    members: dict[str, list[str]] = {}
    for user in ctx.registry.list_kind(layout.USER):
        members.setdefault(user["group"], []).append(user["user_id"])
    groups = [
        {"name": name, "models": models, "users": members.get(name, [])}
        for name, models in ctx.registry.groups().items()
    ]
    rows = [[g["name"], len(g["models"]), len(g["users"])] for g in groups]
    ctx.emit(groups, table(["name", "models", "users"], rows))
    return 0


def show(ctx: Context, args: argparse.Namespace) -> int:
    models = list(_group(ctx, args.name).get("models") or [])
    catalog = ctx.registry.catalog_entries(models)
    users = ctx.registry.users_in(args.name)
    rows = []
    for model_id in models:
        entry = catalog.get(model_id)
        if entry is None:
            rows.append([model_id, CUSTOM_OWNER, "not in the catalog: listed as custom"])
        else:
            note = "disabled: listed nowhere" if entry["status"] == DISABLED else "listed"
            rows.append([model_id, entry.get("owned_by"), note])
    data = {
        "name": args.name,
        "models": models,
        "users": users,
        "custom": [i for i in models if i not in catalog],
        "disabled": [i for i in models if catalog.get(i, {}).get("status") == DISABLED],
    }
    human = f"group {args.name}: {count(len(models), 'model')}; users: {', '.join(users) or '(none)'}\n"
    ctx.emit(data, human + table(["model", "owned_by", "listing"], rows))
    return 0


def _write(
    ctx: Context, args: argparse.Namespace, models: list[str], named: list[str], record: dict[str, Any] | None
) -> int:
    name = args.name
    catalog = require_catalog(ctx, models, allow_custom=getattr(args, "allow_custom", False), named=named)
    written = ctx.registry.put_group(name, models, catalog, record)
    custom = [i for i in models if i not in catalog]
    what = "created" if record is None else ("updated" if written else "unchanged")
    human = f"group {name} {what}: {count(len(models), 'model')}"
    if custom:
        human += f" ({', '.join(custom)} as custom)"
    ctx.emit({"name": name, "models": models, "result": what}, human)
    return 0


def set_models(ctx: Context, args: argparse.Namespace) -> int:
    models = unique_ids(args.models)
    return _write(ctx, args, models, models, ctx.registry.get(layout.group_key(args.name)))


def _edit(change: Callable[[list[str], list[str]], list[str]]) -> Callable[[Context, argparse.Namespace], int]:
    def run(ctx: Context, args: argparse.Namespace) -> int:
        record = _group(ctx, args.name)
        named = unique_ids(args.models)
        models = change(list(record.get("models") or []), named)
        return _write(ctx, args, models, [i for i in named if i in models], record)

    return run


def _added(current: list[str], new: list[str]) -> list[str]:
    present = [i for i in new if i in current]
    if present:
        raise CliError(f"the group already has {', '.join(present)}")
    return current + new


def _removed(current: list[str], gone: list[str]) -> list[str]:
    absent = [i for i in gone if i not in current]
    if absent:
        raise CliError(f"the group does not have {', '.join(absent)}")
    return [i for i in current if i not in gone]


def delete(ctx: Context, args: argparse.Namespace) -> int:
    ctx.registry.delete_group(args.name)
    ctx.emit({"name": args.name, "deleted": True}, f"deleted group {args.name}")
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "group",
        help="groups: the ordered model lists users see",
        parents=[common],
        description="A group is an ordered list of model ids. Users belong to one group; anonymous callers get "
        "the group named `default`. Models outside the catalog need --allow-custom and are listed as custom.",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="list groups", parents=[common]).set_defaults(run=list_groups)

    shown = actions.add_parser("show", help="a group's models, how each is listed, and its users", parents=[common])
    shown.add_argument("name", help="group name")
    shown.set_defaults(run=show)

    for verb, run, text in (
        ("set", set_models, "create a group, or replace its models (in this order)"),
        ("add", _edit(_added), "append models to a group"),
        ("remove", _edit(_removed), "take models out of a group"),
    ):
        action = actions.add_parser(verb, help=text, parents=[common])
        action.add_argument("name", type=ident, help="group name")
        action.add_argument(
            "models", type=ident, nargs="*" if verb == "set" else "+", metavar="MODEL", help="model ids"
        )
        if verb != "remove":
            action.add_argument(
                "--allow-custom", action="store_true", help="allow ids not in the catalog (listed as custom)"
            )
        action.set_defaults(run=run)

    deleted = actions.add_parser("delete", help="delete a group (refused while users belong to it)", parents=[common])
    deleted.add_argument("name", help="group name")
    deleted.set_defaults(run=delete)
