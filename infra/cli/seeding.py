"""`modelgate apply FILE`: make the table hold what a seed file says."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from infra.apply import apply_seed
from infra.cli.context import CliError, Context
from infra.seed import SeedError, load_seed
from infra.table import create_table


def apply(ctx: Context, args: argparse.Namespace) -> int:
    try:
        seed = load_seed(Path(args.file))
    except SeedError as error:
        raise CliError(str(error)) from None
    if ctx.endpoint_url and create_table(ctx.client, ctx.table):
        ctx.info(f"created table {ctx.table} at {ctx.endpoint_url}")
    try:
        applied = apply_seed(seed, ctx.registry)
    except SeedError as error:
        raise CliError(str(error)) from None
    summary = {"models": applied.models, "groups": applied.groups, "users": applied.users, "tokens": applied.tokens}
    ctx.emit(
        summary,
        f"applied {args.file}: {applied.models} models, {len(applied.groups)} groups, "
        f"{applied.users} users, {applied.tokens} tokens",
    )
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("apply", help="apply a seed file (YAML or JSON), idempotently", parents=[common])
    parser.add_argument("file", help="seed file")
    parser.set_defaults(run=apply)
