"""`modelgate serve`: the service on uvicorn, over an embedded DynamoDB unless --endpoint-url names one."""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import shlex
import socket
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from handler.core.sessions import SessionSigner
from handler.settings import Settings, SettingsError
from handler.store import layout
from infra.apply import apply_seed
from infra.cli.apikeys import key_rows, shown_status
from infra.cli.context import CliError, Context, connection_options
from infra.registry import ENABLED
from infra.seed import Seed, SeedError, load_seed
from infra.table import create_table

DEMO_SEED = Path(__file__).resolve().parent.parent / "seeds" / "demo.yaml"


def _source(ctx: Context, embedded: bool, seed_path: Path | None) -> str:
    """Which table this is, and what was loaded into it."""
    if embedded:
        loaded = "the demo seed" if seed_path == DEMO_SEED else f"the seed {seed_path}"
        return f"table {ctx.table!r} in an embedded in-memory DynamoDB at {ctx.endpoint_url}, loaded with {loaded}"
    if seed_path:
        return f"{ctx.where()}: an external table; applied the seed {seed_path} (no demo data)"
    return f"{ctx.where()}: an external table, served as it is: no demo data was loaded"


def _banner(
    ctx: Context, seed: Seed, base_url: str, settings: Settings, signer: SessionSigner | None, *, source: str
) -> str:
    lines = [f"modelgate is serving {base_url}/v1/models", f"  {source}", ""]
    # The seed's keys as `modelgate key list` shows them (read back from the table), with the key itself.
    shown = {ctx.registry.token(token["key"]).token_id: token["key"] for token in seed.tokens}
    tokens = [t for t in ctx.registry.tokens() if t.token_id in shown]
    if tokens:
        lines.append("Keys from the seed (development only: the table is `modelgate key list` with the keys shown):")
        lines += ["  " + row for row in key_rows(tokens, shown).splitlines()]
        lines.append("")
    lines.append("Try it:")
    status = {shown[t.token_id]: shown_status(t) for t in tokens}
    usable = next((t["key"] for t in seed.tokens if status.get(t["key"]) == ENABLED), None)  # the seed's first
    if usable:
        lines.append(f"  curl -s {base_url}/v1/models -H {shlex.quote('Authorization: Bearer ' + usable)}")
    if signer is not None and seed.users:
        user = seed.users[0]["id"]
        incarnation = (ctx.registry.get(layout.user_key(user)) or {}).get("incarnation")
        value = signer.issue(user, now=int(time.time()), ttl_seconds=12 * 3600, incarnation=incarnation)
        cookie = f"{settings.session_cookie}={value}"
        lines.append(f"  curl -s {base_url}/v1/models -H {shlex.quote('Cookie: ' + cookie)}   # logged in as {user}")
    if settings.anonymous_access:
        lines.append(f"  curl -s {base_url}/v1/models   # anonymous: the default group")
    else:
        lines.append("  # anonymous access is off (ANONYMOUS_ACCESS=false): a call without a key or session gets 401")
    lines += [
        "",
        # The region too: DynamoDB (moto, DynamoDB Local) keeps tables apart by region, and a shell with another
        # AWS_REGION would manage another table of the same name.
        f"Manage it from another shell: modelgate --endpoint-url {ctx.endpoint_url} --region {ctx.region} "
        f"--table {ctx.table} ...",
        f"Changes (a key disabled, a session revoked, a group edited) are seen here within "
        f"{settings.revalidate_seconds:g} s (REVALIDATE_SECONDS).",
        "",
    ]
    return "\n".join(lines)


def serve(ctx: Context, args: argparse.Namespace) -> int:
    # The web stack loads here, not at import: every other command starts without it (~0.7 s).
    import uvicorn  # noqa: PLC0415

    from handler.web.app import create_app  # noqa: PLC0415
    from handler.wiring import build_service  # noqa: PLC0415

    _check_port(args.host, args.port)  # before anything starts or prints: the banner's keys would be for nothing
    embedded = ctx.endpoint_url is None
    seed_path = Path(args.seed) if args.seed else (DEMO_SEED if embedded else None)
    try:
        seed = load_seed(seed_path) if seed_path else Seed()
    except SeedError as error:
        raise CliError(str(error)) from None
    if ctx.profile:  # the service's own client reads the profile from the environment, as boto3 does
        os.environ["AWS_PROFILE"] = ctx.profile
    with ExitStack() as stack:
        if embedded:
            from infra.local.embedded import EmbeddedDynamoDB  # noqa: PLC0415

            ctx.endpoint_url = stack.enter_context(EmbeddedDynamoDB()).endpoint_url
        if embedded or seed_path:
            create_table(ctx.client, ctx.table)
            try:
                apply_seed(seed, ctx.registry)
            except SeedError as error:
                raise CliError(str(error)) from None
        else:
            # Fail now, in one line naming the table, the endpoint and where each came from, rather than answer
            # every request with a 503. An unreachable endpoint exits 1, a missing table 2 (see main).
            ctx.client.describe_table(TableName=ctx.table)
        secret = os.environ.get("SESSION_SECRET") or None
        if secret is None:
            # An ephemeral secret still lets the banner's cookie work; export SESSION_SECRET to mint your own.
            secret = secrets.token_urlsafe(32)
        env = {
            **os.environ,
            "TABLE_NAME": ctx.table,
            "DYNAMODB_ENDPOINT_URL": ctx.endpoint_url or "",
            "AWS_REGION": ctx.region,
            "SESSION_SECRET": secret,
        }
        try:
            settings = Settings.from_env(env)
        except SettingsError as error:
            raise CliError(str(error)) from None
        app: Any = create_app(build_service(settings))
        if args.access_log:
            from infra.local.access_log import AccessLog  # noqa: PLC0415

            app = AccessLog(app, app.routes)
        signer = SessionSigner(secret) if len(secret) >= 32 else None
        base_url = f"http://{args.host}:{args.port}"
        print(_banner(ctx, seed, base_url, settings, signer, source=_source(ctx, embedded, seed_path)), flush=True)
        # proxy_headers off: the client IP (for IP allow-lists) is the peer, never a client-sent X-Forwarded-For.
        try:
            uvicorn.run(
                app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, proxy_headers=False
            )
        except SystemExit as stopped:  # uvicorn's own exit codes mean nothing here: 3 is its "startup failed"
            if stopped.code:
                raise CliError(f"the server on {args.host}:{args.port} could not start (see above)") from None
    return 0


def _check_port(host: str, port: int) -> None:
    """Bind where uvicorn will (same family, same SO_REUSEADDR), then let go: taken or invalid is a refusal."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OverflowError:
            raise CliError(f"--port {port} is not a port (0-65535)") from None
        except OSError as error:
            reason = error.strerror or str(error)
            taken = error.errno == errno.EADDRINUSE
            hint = "another server (another modelgate serve?) listens there: " if taken else ""
            raise CliError(f"cannot listen on {host}:{port}: {reason}; {hint}pick another --port or --host") from None


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the service locally (embedded DynamoDB unless --endpoint-url)",
        parents=[connection_options(json_output=False)],
        description="Serve GET /v1/models on uvicorn. Without --endpoint-url it starts an in-memory DynamoDB "
        "(moto) on loopback and applies --seed or the demo seed; with --endpoint-url it serves that "
        "DynamoDB as it is, applying a seed only when --seed is given, after checking that its table exists. "
        "The service's environment variables (ANONYMOUS_ACCESS, REVALIDATE_SECONDS, CORS_ALLOW_ORIGINS, ...) "
        "apply here too.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--seed", help="seed file to apply first (default: the demo seed, embedded only)")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="print one line per request: method, route template, status, latency (never the path's values, "
        "the query string or a credential)",
    )
    parser.set_defaults(run=serve)
