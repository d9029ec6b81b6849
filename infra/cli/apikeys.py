"""`modelgate key create|list|show|disable|enable|delete`: API keys, shown whole only once, when created."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from typing import Any

from handler.core import keys
from infra.cli.context import REACHES_SERVICE, CliError, Context, label, model_list, require_catalog, table, when
from infra.cli.durations import parse_expiry
from infra.registry import DISABLED, ENABLED, TokenRecord
from infra.seed import SeedError, allow_ips

KEY_REF_HELP = "the key's id (tok_... from `key list`), or the key itself"


def token_data(token: TokenRecord, now: float | None = None) -> dict[str, Any]:
    """What may be shown of a key: its masked form, never the key or its hash."""
    now = time.time() if now is None else now
    return {
        "id": token.token_id,
        "name": token.name,
        "user": token.user_id,
        "masked_key": token.key_hint,
        "status": token.status,
        "expired": token.expires_at is not None and token.expires_at <= now,
        "expires_at": when(token.expires_at),
        "models": token.models,
        "group": token.group,  # a group replacing the owner's; None: the owner's
        "allow_ips": token.allow_ips,  # client networks it may be used from; None: anywhere
        "origin": token.origin,  # `migrate:<source>` when `modelgate migrate` keeps it in step
        "created_at": when(token.created_at),
    }


def _models_text(models: Sequence[str] | None) -> str:
    if models is None:
        return "(all of the group's)"
    return ", ".join(models) or "(none)"


def shown_status(token: TokenRecord, now: float | None = None) -> str:
    """The status `key list` shows: an enabled key past its expiry is `expired`."""
    return "expired" if token_data(token, now)["expired"] and token.status == ENABLED else token.status


def key_rows(tokens: Sequence[TokenRecord], shown: Mapping[str, str] | None = None) -> str:
    """Keys as a table, masked; `shown` gives, by token id, a key to show whole instead (serve's demo keys)."""
    rows = []
    for token in tokens:
        data = token_data(token)
        rows.append(
            [
                token.token_id,
                token.name or None,
                token.user_id,
                (shown or {}).get(token.token_id, token.key_hint),
                shown_status(token),
                data["expires_at"] or "never",
                _models_text(token.models),
                token.group or "(owner's)",
                ",".join(token.allow_ips) if token.allow_ips is not None else "(any)",
                data["created_at"],
            ]
        )
    return table(["id", "name", "user", "key", "status", "expires", "models", "group", "allow_ips", "created"], rows)


def create(ctx: Context, args: argparse.Namespace) -> int:
    user = ctx.registry.user(args.user)
    if user.get("status") != ENABLED:
        raise CliError(f"user {args.user!r} is disabled; enable them before giving them a key")
    models = None if args.models is None else model_list(args.models)
    if models:
        listing_group = args.group or user["group"]
        group = ctx.registry.group_models(listing_group) or []
        outside = [m for m in models if m not in group]
        # A model the group lists is the group's to give, catalog or custom; only others need --allow-custom.
        require_catalog(ctx, models, allow_custom=args.allow_custom, named=outside)
        if outside:
            lacks = f"group {listing_group} lacks {', '.join(outside)}"
            ctx.info(f"note: {lacks}; a key lists only what its user's group has")
    expires_at = None if args.expires is None else parse_expiry(args.expires)
    try:
        networks = allow_ips(args.allow_ips, "--allow-ips")
    except SeedError as error:
        raise CliError(str(error)) from None
    if args.group is not None and ctx.registry.group_models(args.group) is None:
        raise CliError(f"unknown group {args.group!r}")
    key = keys.generate()
    token = ctx.registry.create_token(
        key,
        user_id=args.user,
        name=args.name,
        models=models,
        expires_at=expires_at,
        allow_ips=networks,
        group=args.group,
    )
    data = {**token_data(token), "key": key}
    human = [
        f"created key {token.token_id} for {args.user}"
        + (f" ({args.name})" if args.name else "")
        + f"; models: {_models_text(models)}; expires: {when(expires_at) or 'never'}"
        + (f"; group: {args.group}" if args.group else "")
        + (f"; allowed from: {', '.join(networks)}" if networks else ""),
        "The key is shown only this once; store it now:",
        key,
    ]
    ctx.emit(data, "\n".join(human))
    return 0


def list_keys(ctx: Context, args: argparse.Namespace) -> int:
    tokens = ctx.registry.tokens(args.user)
    if args.user is not None and not tokens:
        ctx.registry.user(args.user)  # an unknown user is an error; a keyless one is an empty list
    ctx.emit([token_data(t) for t in tokens], key_rows(tokens))
    return 0


def show(ctx: Context, args: argparse.Namespace) -> int:
    token = ctx.registry.token(args.id)
    data = token_data(token)
    ctx.emit(data, "\n".join(f"{name + ':':<11} {value}" for name, value in data.items()))
    return 0


def set_status(status: str) -> Any:
    def run(ctx: Context, args: argparse.Namespace) -> int:
        token = ctx.registry.set_token_status(args.id, status)
        effect = (
            "the service accepts it again" if status == ENABLED else f"running containers refuse it {REACHES_SERVICE}"
        )
        ctx.emit(token_data(token), f"{status} key {token.token_id} ({token.key_hint}, user {token.user_id}): {effect}")
        return 0

    return run


def delete(ctx: Context, args: argparse.Namespace) -> int:
    token = ctx.registry.delete_token(args.id)
    ctx.emit(
        {**token_data(token), "deleted": True},
        f"deleted key {token.token_id} ({token.key_hint}, user {token.user_id}): "
        f"running containers refuse it {REACHES_SERVICE}",
    )
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    key = commands.add_parser(
        "key",
        help="API keys",
        parents=[common],
        description="API keys are stored only as their SHA-256 hash and shown whole only by `key create`. "
        "Other commands name a key by its public id (tok_...) or by the key itself, and show it masked, "
        "sk-ab****wxyz.",
    )
    actions = key.add_subparsers(dest="action", required=True, metavar="ACTION")

    created = actions.add_parser(
        "create",
        help="create a key; it is printed once (last line; with --json, the `key` field)",
        parents=[common],
    )
    created.add_argument("--user", required=True, help="the owner (an enabled user)")
    created.add_argument("--name", type=label, default="", help="a label, e.g. laptop")
    created.add_argument(
        "--models",
        help='comma-separated model ids the key lists (within its group); default: all of the group\'s; "" for none',
    )
    created.add_argument("--expires", help="a duration from now (30d, 12h) or a date (2027-01-01)")
    created.add_argument(
        "--allow-custom",
        action="store_true",
        help="allow --models ids neither in the catalog nor listed by the user's group",
    )
    created.add_argument(
        "--allow-ips",
        help="comma-separated client addresses or CIDR networks the key may be used from (default: anywhere); "
        "others get 403 ip_not_allowed",
    )
    created.add_argument(
        "--group", help="a group whose models the key lists instead of its owner's (still narrowed by --models)"
    )
    created.set_defaults(run=create)

    listed = actions.add_parser("list", help="list keys, masked", parents=[common])
    listed.add_argument("--user", help="only this user's keys")
    listed.set_defaults(run=list_keys)

    shown = actions.add_parser("show", help="one key, masked", parents=[common])
    shown.add_argument("id", help=KEY_REF_HELP)
    shown.set_defaults(run=show)

    for status, verb, text in (
        (DISABLED, "disable", "refuse a key"),
        (ENABLED, "enable", "accept a disabled key again"),
    ):
        action = actions.add_parser(verb, help=text, parents=[common])
        action.add_argument("id", help=KEY_REF_HELP)
        action.set_defaults(run=set_status(status))

    deleted = actions.add_parser("delete", help="delete a key for good", parents=[common])
    deleted.add_argument("id", help=KEY_REF_HELP)
    deleted.set_defaults(run=delete)
