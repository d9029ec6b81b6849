"""`modelgate migrate SOURCE [--dry-run] [--prune] [--follow]`: move in from one-api or new-api, and keep in step."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from typing import Any

from infra.cli.context import CliError, Context, count, ident, progress_bar
from infra.seed import SeedError
from infra.table import create_table

DEFAULT_INTERVAL, MIN_INTERVAL = 2.0, 0.5  # seconds between two passes of --follow


def _interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds >= MIN_INTERVAL:  # also refuses nan
        raise argparse.ArgumentTypeError(f"at least {MIN_INTERVAL:g} seconds")
    return seconds


def migrate(ctx: Context, args: argparse.Namespace) -> int:
    # The drivers and the mapping load only here: no other command (and never the function) imports them.
    from infra.migrate.mapping import read_source  # noqa: PLC0415
    from infra.migrate.ownership import origin_of  # noqa: PLC0415
    from infra.migrate.source import SourceError, open_source, parse_source  # noqa: PLC0415
    from infra.migrate.sync import full_state, owned_keys, reconcile  # noqa: PLC0415

    if args.follow and args.dry_run:
        raise CliError("--dry-run cannot be used with --follow: run `migrate SOURCE --dry-run` once to see the plan")
    try:
        url = parse_source(args.source)
    except SourceError as error:
        raise CliError(str(error)) from None
    source = args.source_name or url.identity
    if args.follow:
        return follow(ctx, args, url, source)
    started = time.monotonic()
    try:
        with open_source(url) as reader:
            migration = read_source(reader, origin_of(source))
    except SourceError as error:
        raise CliError(str(error)) from None
    read_seconds = time.monotonic() - started
    if ctx.endpoint_url and not args.dry_run and create_table(ctx.client, ctx.table):
        ctx.info(f"created {ctx.where()}")
    seed = migration.seed
    found = f"{count(len(seed.users), 'user')}, {count(len(seed.groups), 'group')}, {count(len(seed.tokens), 'key')}"
    found_counts = {"users": len(seed.users), "groups": len(seed.groups), "tokens": len(seed.tokens)}
    state = full_state(ctx.registry)
    try:
        outcome = reconcile(
            seed,
            state,
            ctx.registry,
            prune=args.prune,
            adopt=args.adopt,
            allow_mass_removal=args.allow_mass_removal,
            owned=owned_keys(state, origin_of(source)),
            write=not args.dry_run,
            key_progress=None if args.dry_run else progress_bar(len(seed.tokens), "writing new keys"),
        )
    except SeedError as error:
        raise CliError(str(error)) from None
    planned = outcome.plan
    if outcome.hold is not None and not args.dry_run:
        raise CliError(f"{outcome.hold.line()} (`migrate {url.shown} --prune --allow-mass-removal`)")
    skipped = [f"{n} {reason}" for reason, n in sorted(migration.skipped.items())]
    lines = [c.line() for c in planned.changes] if args.dry_run else []
    lines += [c.line() for c in outcome.conflicts]
    lines += [f"note: skipped {item}" for item in skipped]
    lines += [f"note: {note}" for note in planned.notes]
    if outcome.hold is not None:
        lines.append(f"note: a real run would be {outcome.hold.line()}")
    verb = "dry run of migrate from" if args.dry_run else "migrated from"
    tail = "; nothing written" if args.dry_run else ""
    if outcome.conflicts:
        tail = f"; {count(len(outcome.conflicts), 'conflict')} left alone (--adopt takes them over){tail}"
    named = f" as {source}" if args.source_name else ""
    lines.append(f"{verb} {migration.flavour} {url.shown}{named} ({found}): {planned.counts()}{tail}")
    data: dict[str, Any] = {
        "source": url.shown,
        "source_name": source,
        "flavour": migration.flavour,
        "dry_run": args.dry_run,
        "prune": args.prune,
        "found": found_counts,
        "skipped": migration.skipped,
        "summary": planned.summary(),
        "changes": [c.as_dict() for c in planned.changes],
        "conflicts": [c.as_dict() for c in outcome.conflicts],
        "held": None if outcome.hold is None else outcome.hold.as_dict(),
        "notes": planned.notes,
        "seconds": {"read": round(read_seconds, 3), "total": round(time.monotonic() - started, 3)},
    }
    ctx.emit(data, "\n".join(lines))
    return 0


def _check_table(ctx: Context) -> None:
    """A table that does not exist is the operator's to fix (exit 2), not a fault to retry for ever; DynamoDB
    unreachable at start is retried like any other fault."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from infra.migrate.status import revision  # noqa: PLC0415

    try:
        revision(ctx.registry)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise
    except BotoCoreError:
        pass


def follow(ctx: Context, args: argparse.Namespace, url: Any, source: str) -> int:
    """Run the follower until SIGTERM or SIGINT: the pass in progress finishes its current write, then exit 0."""
    from infra.migrate.follower import Follower, Memory  # noqa: PLC0415
    from infra.migrate.source import SourceError, check_driver  # noqa: PLC0415

    try:
        check_driver(url)
    except SourceError as error:
        raise CliError(str(error)) from None
    if ctx.endpoint_url and create_table(ctx.client, ctx.table):
        ctx.info(f"created {ctx.where()}")
    _check_table(ctx)
    stopping = threading.Event()

    def say(data: dict[str, Any], line: str) -> None:
        text = json.dumps(data, ensure_ascii=False, default=str) if ctx.json else line
        if text:
            print(text, flush=True)

    name = f" as {source}" if args.source_name else ""
    ctx.info(f"following {url.shown}{name} into {ctx.where()} every {args.interval:g} s (SIGTERM or Ctrl-C stops)")
    follower = Follower(
        url,
        ctx.registry,
        source,
        say,
        interval=args.interval,
        adopt=args.adopt,
        stop=stopping.is_set,
        memory=Memory(allow_mass_removal=args.allow_mass_removal),
    )

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()
        follower.interrupt()  # a read or a wait is dropped at once; a write in progress finishes first

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return follower.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "migrate",
        help="copy a one-api / new-api database's users, groups and keys (read-only), once or following it",
        parents=[common],
        description="Read a one-api or new-api database (never writing to it) and make modelgate hold its users, "
        "groups (from enabled abilities) and keys, so every existing key keeps working with the same model list. "
        "Writes only what changed, like `apply`; with --follow, keeps doing so every few seconds. Records are "
        "marked with the source: users, groups and keys another writer made are left alone (conflicts). "
        "Channels, quotas and prices stay in the gateway.",
        epilog="SOURCE: one-api.db, sqlite:///path, mysql://user:pass@host:port/db or "
        "postgresql://user:pass@host:port/db. The password may come from MODELGATE_MIGRATE_PASSWORD instead; "
        "it is never printed. MySQL and PostgreSQL need: pip install 'modelgate[migrate]'.",
    )
    parser.add_argument("source", help="the one-api / new-api database")
    parser.add_argument("--dry-run", action="store_true", help="print the changes it would make; write nothing")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="also remove the users, keys and groups this source wrote that it no longer has (or has "
        "soft-deleted); never another writer's",
    )
    parser.add_argument(
        "--source-name",
        type=ident,
        metavar="NAME",
        help="the name its records carry (default: the source URL without credentials); keep it when the URL changes",
    )
    parser.add_argument(
        "--adopt",
        action="store_true",
        help="take over the users, groups and keys of the same names that another writer made (else left alone)",
    )
    parser.add_argument(
        "--allow-mass-removal",
        action="store_true",
        help="let through a run (with --follow: its first pass) that removes or disables more than 10%% of this "
        "source's keys (and at least 10); without it such a run writes nothing",
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="keep running: every --interval, write what changed in the source (removals included)",
    )
    parser.add_argument(
        "--interval",
        type=_interval,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"with --follow: seconds between passes (default {DEFAULT_INTERVAL:g}, at least {MIN_INTERVAL:g})",
    )
    parser.set_defaults(run=migrate)
