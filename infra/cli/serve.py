"""`modelgate serve`: the service on uvicorn, over an embedded DynamoDB unless --endpoint-url names one."""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from handler.core.sessions import SessionSigner
from handler.settings import Settings
from infra.apply import apply_seed
from infra.cli.context import CliError, Context
from infra.seed import Seed, SeedError, load_seed
from infra.table import create_table

DEMO_SEED = Path(__file__).resolve().parent.parent / "seeds" / "demo.yaml"


def _banner(ctx: Context, seed: Seed, base_url: str, settings: Settings, signer: SessionSigner | None) -> str:
    lines = [f"modelgate is serving {base_url}/v1/models (table {ctx.table} at {ctx.endpoint_url})", ""]
    if seed.tokens:
        lines.append("Keys from the seed:")
        for token in seed.tokens:
            limit = "all of its group's models" if token["models"] is None else ", ".join(token["models"]) or "none"
            lines.append(f"  {token['key']}  user={token['user']} status={token['status']} models: {limit}")
        usable = next((t["key"] for t in seed.tokens if t["status"] == "enabled" and t["expires_at"] is None), None)
        if usable:
            lines += [
                "",
                "Try it:",
                f"  curl -s {base_url}/v1/models -H {shlex.quote('Authorization: Bearer ' + usable)}",
            ]
    if signer is not None and seed.users:
        user = seed.users[0]["id"]
        cookie = f"{settings.session_cookie}={signer.issue(user, now=int(time.time()), ttl_seconds=12 * 3600)}"
        lines.append(f"  curl -s {base_url}/v1/models -H {shlex.quote('Cookie: ' + cookie)}   # logged in as {user}")
    lines += [
        f"  curl -s {base_url}/v1/models   # anonymous: the default group",
        "",
        f"Manage it from another shell: modelgate --endpoint-url {ctx.endpoint_url} --table {ctx.table} ...",
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

    embedded = ctx.endpoint_url is None
    seed_path = Path(args.seed) if args.seed else (DEMO_SEED if embedded else None)
    try:
        seed = load_seed(seed_path) if seed_path else Seed()
    except SeedError as error:
        raise CliError(str(error)) from None
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
        settings = Settings.from_env(env)
        app = create_app(build_service(settings))
        signer = SessionSigner(secret) if len(secret) >= 32 else None
        print(_banner(ctx, seed, f"http://{args.host}:{args.port}", settings, signer), flush=True)
        # proxy_headers off: the client IP (for IP allow-lists) is the peer, never a client-sent X-Forwarded-For.
        uvicorn.run(
            app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, proxy_headers=False
        )
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the service locally (embedded DynamoDB unless --endpoint-url)",
        parents=[common],
        description="Serve GET /v1/models on uvicorn. Without --endpoint-url it starts an in-memory DynamoDB "
        "(moto) on loopback and applies --seed or the demo seed; with --endpoint-url it serves that "
        "DynamoDB as it is, applying a seed only when --seed is given.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--seed", help="seed file to apply first (default: the demo seed, embedded only)")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    parser.set_defaults(run=serve)
