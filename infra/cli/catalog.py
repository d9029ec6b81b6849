"""`modelgate models import|list|show|enable|disable|delete`: the catalog of model objects."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from infra.apply import execute, plan, read_state
from infra.cli.context import CliError, Context, count, progress_bar, table, when
from infra.registry import DISABLED, ENABLED
from infra.seed import Seed, SeedError, load_catalog


def import_models(ctx: Context, args: argparse.Namespace) -> int:
    try:
        entries = load_catalog(Path(args.file))
    except SeedError as error:
        raise CliError(str(error)) from None
    state = read_state(ctx.registry, tokens=False)
    for entry in entries:  # a file without statuses keeps the ones operators set
        entry.setdefault("status", state.models.get(entry["id"], {}).get("status", ENABLED))
    planned = plan(Seed(models=entries, sections=frozenset({"models"})), state)
    if not args.dry_run:
        execute(planned, ctx.registry, progress_bar(len(planned.models), "importing models"))
    counts = planned.summary().get("models", {})
    added, changed = counts.get("add", 0), counts.get("change", 0)
    rebuilt = list(planned.groups) + planned.views
    result = {
        "file": args.file,
        "dry_run": args.dry_run,
        "models": {"added": added, "changed": changed, "unchanged": len(entries) - added - changed},
        "groups_rebuilt": rebuilt,
        "changes": [c.as_dict() for c in planned.changes],
    }
    lines = [c.line() for c in planned.changes] if args.dry_run else []
    verb = "would import" if args.dry_run else "imported"
    lines.append(
        f"{verb} {count(len(entries), 'model')} from {args.file}: {added} added, {changed} changed, "
        f"{len(entries) - added - changed} unchanged"
        + (f"; views rebuilt: {', '.join(rebuilt)}" if rebuilt else "")
        + ("; dry run, nothing written" if args.dry_run else "")
    )
    ctx.emit(result, "\n".join(lines))
    return 0


def list_models(ctx: Context, args: argparse.Namespace) -> int:
    models = [e for e in ctx.registry.catalog().values() if args.status in (None, e["status"])]
    ctx.emit(
        models,
        table(
            ["id", "owned_by", "created", "status"],
            [[e["id"], e.get("owned_by"), when(e.get("created")), e["status"]] for e in models],
        ),
    )
    return 0


def _entry(ctx: Context, model_id: str) -> dict[str, Any]:
    found = ctx.registry.catalog_entries([model_id])
    if model_id not in found:
        raise CliError(f"unknown model {model_id!r}")
    return found[model_id]


def show(ctx: Context, args: argparse.Namespace) -> int:
    entry = _entry(ctx, args.id)
    groups = [name for name, members in ctx.registry.groups().items() if args.id in members]
    shown: dict[str, Any] = {**entry, "groups": ", ".join(groups) or "(none)"}
    if "created" in entry:
        shown["created"] = f"{entry['created']} ({when(entry['created'])})"
    for name in ("permission", "parent", "root"):
        if name in entry:
            shown[name] = json.dumps(entry[name], ensure_ascii=False)
    lines = [f"{name + ':':<11} {value}" for name, value in shown.items()]
    ctx.emit({**entry, "groups": groups}, "\n".join(lines))
    return 0


def set_status(status: str) -> Any:
    def run(ctx: Context, args: argparse.Namespace) -> int:
        previous = _entry(ctx, args.id)["status"]
        rebuilt = ctx.registry.set_model_status(args.id, status)
        listed = "listed again by its groups" if status == ENABLED else "listed nowhere"
        human = (
            f"model {args.id} is already {status}"
            if previous == status
            else f"{status} model {args.id}: {listed}; views rebuilt: {', '.join(rebuilt) or '(none)'}"
        )
        ctx.emit({"id": args.id, "status": status, "groups_rebuilt": rebuilt}, human)
        return 0

    return run


def delete(ctx: Context, args: argparse.Namespace) -> int:
    groups = ctx.registry.delete_model(args.id)
    ctx.emit(
        {"id": args.id, "deleted": True, "removed_from_groups": groups},
        f"deleted model {args.id}" + (f"; removed it from groups {', '.join(groups)}" if groups else ""),
    )
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    models = commands.add_parser(
        "models",
        help="the model catalog",
        parents=[common],
        description="The catalog: the model objects groups name. Every field given is returned as given.",
    )
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")

    imported = actions.add_parser(
        "import",
        help="import an OpenAI model list or a catalog YAML, idempotently",
        parents=[common],
        description='Import {"object": "list", "data": [...]} (what GET /v1/models returns), a YAML `models:` '
        "list, or a bare list. created, owned_by, permission, root and parent are kept as given. Re-importing "
        "writes only what changed, keeps statuses set with `models disable` unless the file gives one, and "
        "rebuilds the views of the groups naming changed models.",
    )
    imported.add_argument("file", help="JSON or YAML file")
    imported.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    imported.set_defaults(run=import_models)

    listed = actions.add_parser("list", help="list the catalog", parents=[common])
    listed.add_argument("--status", choices=[ENABLED, DISABLED], help="only models with this status")
    listed.set_defaults(run=list_models)

    shown = actions.add_parser("show", help="one model's stored fields and the groups naming it", parents=[common])
    shown.add_argument("id", help="model id")
    shown.set_defaults(run=show)

    for status, verb, text in (
        (DISABLED, "disable", "list a model nowhere (groups keep naming it)"),
        (ENABLED, "enable", "list a disabled model again"),
    ):
        action = actions.add_parser(verb, help=text, parents=[common])
        action.add_argument("id", help="model id")
        action.set_defaults(run=set_status(status))

    deleted = actions.add_parser(
        "delete",
        help="drop a model from the catalog and from every group naming it",
        parents=[common],
        description="Drop a model from the catalog and from every group naming it, in one transaction.",
    )
    deleted.add_argument("id", help="model id")
    deleted.set_defaults(run=delete)
