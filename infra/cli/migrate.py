"""`modelgate migrate SOURCE [--dry-run] [--prune] [--json]`: move in from one-api or new-api, and keep in step."""

from __future__ import annotations

import argparse
import time
from typing import Any

from infra.apply import execute, plan, read_state
from infra.cli.context import CliError, Context, count, progress_bar
from infra.seed import SeedError
from infra.table import create_table


def migrate(ctx: Context, args: argparse.Namespace) -> int:
    # The drivers and the mapping load only here: no other command (and never the function) imports them.
    from infra.migrate.mapping import read_source  # noqa: PLC0415
    from infra.migrate.source import SourceError, open_source, parse_source  # noqa: PLC0415

    started = time.monotonic()
    try:
        url = parse_source(args.source)
        with open_source(url) as source:
            migration = read_source(source)
    except SourceError as error:
        raise CliError(str(error)) from None
    read_seconds = time.monotonic() - started
    if ctx.endpoint_url and not args.dry_run and create_table(ctx.client, ctx.table):
        ctx.info(f"created {ctx.where()}")
    seed = migration.seed
    try:
        planned = plan(seed, read_state(ctx.registry, tokens=True), prune=args.prune)
    except SeedError as error:
        raise CliError(str(error)) from None
    if not args.dry_run:
        execute(planned, ctx.registry, key_progress=progress_bar(len(planned.new_tokens), "writing new keys"))
    summary = planned.summary()
    counts = planned.counts()
    found = f"{count(len(seed.users), 'user')}, {count(len(seed.groups), 'group')}, {count(len(seed.tokens), 'key')}"
    skipped = [f"{n} {reason}" for reason, n in sorted(migration.skipped.items())]
    lines = [c.line() for c in planned.changes] if args.dry_run else []
    lines += [f"note: skipped {item}" for item in skipped]
    lines += [f"note: {note}" for note in planned.notes]
    verb = "dry run of migrate from" if args.dry_run else "migrated from"
    tail = "; nothing written" if args.dry_run else ""
    lines.append(f"{verb} {migration.flavour} {url.shown} ({found}): {counts}{tail}")
    data: dict[str, Any] = {
        "source": url.shown,
        "flavour": migration.flavour,
        "dry_run": args.dry_run,
        "prune": args.prune,
        "found": {"users": len(seed.users), "groups": len(seed.groups), "tokens": len(seed.tokens)},
        "skipped": migration.skipped,
        "summary": summary,
        "changes": [c.as_dict() for c in planned.changes],
        "notes": planned.notes,
        "seconds": {"read": round(read_seconds, 3), "total": round(time.monotonic() - started, 3)},
    }
    ctx.emit(data, "\n".join(lines))
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "migrate",
        help="copy a one-api / new-api database's users, groups and keys (read-only; re-run to keep in step)",
        parents=[common],
        description="Read a one-api or new-api database (never writing to it) and make modelgate hold its users, "
        "groups (from enabled abilities) and keys, so every existing key keeps working with the same model list. "
        "Writes only what changed, like `apply`. Channels, quotas and prices stay in the gateway.",
        epilog="SOURCE: one-api.db, sqlite:///path, mysql://user:pass@host:port/db or "
        "postgresql://user:pass@host:port/db. The password may come from MODELGATE_MIGRATE_PASSWORD instead; "
        "it is never printed. MySQL and PostgreSQL need the drivers: from the modelgate checkout, run "
        ".venv/bin/pip install -e '.[migrate]'.",
    )
    parser.add_argument("source", help="the one-api / new-api database")
    parser.add_argument("--dry-run", action="store_true", help="print the changes it would make; write nothing")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="also remove the users, keys and groups an earlier migrate wrote that the source no longer has "
        "(or has soft-deleted); never anything migrate did not write",
    )
    parser.set_defaults(run=migrate)
