"""`modelgate user create|set-group|disable|enable|delete|list|show`: the people keys and sessions belong to."""

from __future__ import annotations

import argparse
from typing import Any

from handler.store import layout
from infra.cli.apikeys import key_rows, token_data
from infra.cli.context import CliError, Context, count, ident, table, when
from infra.registry import DISABLED, ENABLED


def _data(record: dict[str, Any], keys: int | None = None) -> dict[str, Any]:
    data = {
        "id": record["user_id"],
        "group": record["group"],
        "status": record["status"],
        "created_at": when(record.get("created_at")),
    }
    if record.get("sessions_valid_after"):
        data["sessions_valid_after"] = when(record["sessions_valid_after"])
    if keys is not None:
        data["keys"] = keys
    return data


def create(ctx: Context, args: argparse.Namespace) -> int:
    leftover = ctx.registry.create_user(args.id, args.group)
    note = f"; deleted {count(len(leftover), 'key')} a former user {args.id} left" if leftover else ""
    ctx.emit(_data(ctx.registry.user(args.id)), f"created user {args.id} in group {args.group}{note}")
    return 0


def set_group(ctx: Context, args: argparse.Namespace) -> int:
    ctx.registry.update_user(args.id, group=args.group)
    ctx.emit(_data(ctx.registry.user(args.id)), f"user {args.id} is now in group {args.group}")
    return 0


def set_status(status: str) -> Any:
    def run(ctx: Context, args: argparse.Namespace) -> int:
        ctx.registry.update_user(args.id, status=status)
        effect = (
            f"their keys and sessions work again, for containers serving {ctx.place()}"
            if status == ENABLED
            else f"running containers refuse their keys and sessions {ctx.reaches_service()}"
        )
        ctx.emit(_data(ctx.registry.user(args.id)), f"{status} user {args.id}: {effect}")
        return 0

    return run


def delete(ctx: Context, args: argparse.Namespace) -> int:
    dropped = ctx.registry.delete_user(args.id)
    ctx.emit(
        {"id": args.id, "deleted": True, "keys_deleted": dropped},
        f"deleted user {args.id} and {len(dropped)} key(s)",
    )
    return 0


def list_users(ctx: Context, args: argparse.Namespace) -> int:
    counts: dict[str, int] = {}
    for token in ctx.registry.tokens():
        counts[token.user_id] = counts.get(token.user_id, 0) + 1
    if args.group is not None and ctx.registry.get(layout.group_key(args.group)) is None:
        raise CliError(f"unknown group {args.group!r}")
    users = [
        _data(u, counts.get(u["user_id"], 0))
        for u in ctx.registry.list_kind(layout.USER)
        if args.group in (None, u["group"])
    ]
    rows = [[u["id"], u["group"], u["status"], u["keys"], u["created_at"]] for u in users]
    ctx.emit(users, table(["id", "group", "status", "keys", "created"], rows))
    return 0


def show(ctx: Context, args: argparse.Namespace) -> int:
    data = _data(ctx.registry.user(args.id))
    tokens = ctx.registry.tokens(args.id)
    lines = [f"{name + ':':<21} {value}" for name, value in data.items()]
    lines += ["", f"keys ({len(tokens)}):", key_rows(tokens)]
    ctx.emit({**data, "keys": [token_data(t) for t in tokens]}, "\n".join(lines))
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    user = commands.add_parser(
        "user",
        help="users: the owners of keys and sessions",
        parents=[common],
        description="A user belongs to one group; their keys and login sessions see that group's models.",
    )
    actions = user.add_subparsers(dest="action", required=True, metavar="ACTION")

    created = actions.add_parser("create", help="create a user in a group", parents=[common])
    created.add_argument("id", type=ident, help="user id")
    created.add_argument("--group", type=ident, required=True, help="the group whose models the user sees")
    created.set_defaults(run=create)

    moved = actions.add_parser("set-group", help="move a user to another group", parents=[common])
    moved.add_argument("id", help="user id")
    moved.add_argument("group", type=ident, help="group name")
    moved.set_defaults(run=set_group)

    for status, verb, text in (
        (DISABLED, "disable", "refuse the user's keys and sessions"),
        (ENABLED, "enable", "accept the user's keys and sessions again"),
    ):
        action = actions.add_parser(verb, help=text, parents=[common])
        action.add_argument("id", help="user id")
        action.set_defaults(run=set_status(status))

    deleted = actions.add_parser(
        "delete", help="delete a user and all their keys, in one transaction", parents=[common]
    )
    deleted.add_argument("id", help="user id")
    deleted.set_defaults(run=delete)

    listed = actions.add_parser("list", help="list users", parents=[common])
    listed.add_argument("--group", help="only the users of this group")
    listed.set_defaults(run=list_users)

    shown = actions.add_parser("show", help="a user and their keys (masked)", parents=[common])
    shown.add_argument("id", help="user id")
    shown.set_defaults(run=show)
