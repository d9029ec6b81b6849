"""`modelgate apply FILE` and `modelgate export`: the table as a declarative seed file, both ways."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from infra.apply import execute, export_seed, plan, read_state
from infra.cli.context import CliError, Context, count, progress_bar
from infra.seed import SeedError, dump_seed, load_seed
from infra.table import create_table

EXPORT_HEADER = "modelgate export: the catalog, groups and users (never keys). Re-apply with `modelgate apply`."


def apply(ctx: Context, args: argparse.Namespace) -> int:
    try:
        seed = load_seed(Path(args.file))
    except SeedError as error:
        raise CliError(str(error)) from None
    if ctx.endpoint_url and not args.dry_run and create_table(ctx.client, ctx.table):
        ctx.info(f"created {ctx.where()}")
    planned = plan(seed, read_state(ctx.registry, tokens=bool(seed.tokens) or args.prune), prune=args.prune)
    if not args.dry_run:
        execute(planned, ctx.registry, progress_bar(len(planned.models), "writing models"))
    summary = planned.summary()
    counts = planned.counts()
    lines = [c.line() for c in planned.changes] if args.dry_run else []
    lines += [f"note: {note}" for note in planned.notes]
    lines.append(
        f"dry run of {args.file}: {counts}; nothing written" if args.dry_run else f"applied {args.file}: {counts}"
    )
    ctx.emit(
        {
            "file": args.file,
            "dry_run": args.dry_run,
            "prune": args.prune,
            "summary": summary,
            "changes": [c.as_dict() for c in planned.changes],
            "notes": planned.notes,
        },
        "\n".join(lines),
    )
    return 0


def export(ctx: Context, args: argparse.Namespace) -> int:
    seed = export_seed(ctx.registry)
    document = {"models": seed.models, "groups": seed.groups, "users": seed.users}
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n" if ctx.json else dump_seed(seed, EXPORT_HEADER)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        numbers = [count(len(seed.models), "model"), count(len(seed.groups), "group"), count(len(seed.users), "user")]
        ctx.info(f"wrote {args.output}: {', '.join(numbers)}")
    else:
        print(text, end="")
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "apply",
        help="apply a seed file (YAML or JSON), idempotently",
        parents=[common],
        description="Make the table hold what the seed file says, writing only the differences. With "
        "--endpoint-url it creates the table if it is missing. The whole file is checked before anything "
        "is written.",
    )
    parser.add_argument("file", help="seed file")
    parser.add_argument("--dry-run", action="store_true", help="print the changes it would make; write nothing")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="also remove the models, groups and users (and keys, only if the file has a tokens: section) that "
        "the file's sections do not name",
    )
    parser.set_defaults(run=apply)

    exported = commands.add_parser(
        "export",
        help="print the catalog, groups and users as a seed file (never keys)",
        parents=[common],
        description="Print the table's catalog, groups and users as a seed file that `apply` takes back: "
        "export, apply, export gives the same bytes. Keys are never exported.",
    )
    exported.add_argument("-o", "--output", help="write to this file instead of stdout")
    exported.set_defaults(run=export)
