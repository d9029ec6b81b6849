"""`modelgate session create|revoke`: login sessions for the service's session-cookie callers."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from handler.core.sessions import SessionSigner, WeakSecret
from handler.settings import Settings
from handler.store import layout
from infra.cli.context import CliError, Context
from infra.cli.durations import parse_duration

DEFAULT_TTL = "12h"


def _signer() -> SessionSigner:
    secret = os.environ.get("SESSION_SECRET")
    if not secret:
        raise CliError("SESSION_SECRET is not set: export the same secret the service uses")
    try:
        return SessionSigner(secret)
    except WeakSecret as error:
        raise CliError(str(error)) from None


def _enabled_user(ctx: Context, user_id: str) -> dict[str, Any]:
    user = ctx.registry.get(layout.user_key(user_id))
    if user is None:
        raise CliError(f"unknown user {user_id!r}")
    if user.get("status") != "enabled":
        raise CliError(f"user {user_id!r} is disabled")
    return user


def create(ctx: Context, args: argparse.Namespace) -> int:
    signer = _signer()
    ttl = parse_duration(args.ttl)
    user = _enabled_user(ctx, args.user)
    now = int(time.time())
    value = signer.issue(args.user, now=now, ttl_seconds=ttl, incarnation=user.get("incarnation"))
    cookie = f"{Settings.from_env().session_cookie}={value}"
    ctx.emit(
        {"user": args.user, "cookie": cookie, "expires_at": now + ttl},
        f"# session for {args.user}, valid {args.ttl}; send it as a Cookie header\n{cookie}",
    )
    return 0


def revoke(ctx: Context, args: argparse.Namespace) -> int:
    if ctx.registry.get(layout.user_key(args.user)) is None:
        raise CliError(f"unknown user {args.user!r}")
    ctx.registry.revoke_sessions(args.user, now=time.time())
    ctx.emit(
        {"user": args.user, "revoked": True},
        f"revoked every session of {args.user} issued until now: "
        f"running containers refuse them {ctx.reaches_service()}",
    )
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    session = commands.add_parser("session", help="login sessions", parents=[common])
    actions = session.add_subparsers(dest="action", required=True, metavar="ACTION")
    made = actions.add_parser("create", help="print a session cookie NAME=VALUE (last line)", parents=[common])
    made.add_argument("--user", required=True, help="user id")
    made.add_argument("--ttl", default=DEFAULT_TTL, help=f"lifetime, e.g. 30m, 12h, 7d (default {DEFAULT_TTL})")
    made.set_defaults(run=create)
    gone = actions.add_parser("revoke", help="revoke every session a user holds", parents=[common])
    gone.add_argument("--user", required=True, help="user id")
    gone.set_defaults(run=revoke)
