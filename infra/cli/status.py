"""`modelgate status [--json]`: which table this reads, its change revision, and each `migrate --follow` source."""

from __future__ import annotations

import argparse
import time
from typing import Any

from infra.cli.context import Context, table, when

STALE_SECONDS = 300  # a follower that completed no pass for 5 minutes is said to be stale


def _ago(epoch: float | None, now: float) -> str:
    if epoch is None:
        return "never"
    return f"{when(epoch)} ({max(0, now - epoch):.0f} s ago)"


def status(ctx: Context, args: argparse.Namespace) -> int:
    from infra.migrate.status import read_statuses, revision  # noqa: PLC0415

    marker = revision(ctx.registry)
    followers = read_statuses(ctx.registry)
    now = time.time()
    for record in followers:
        done = record.get("last_pass_at")
        record["stale"] = done is None or now - float(done) > STALE_SECONDS
    data: dict[str, Any] = {
        "table": ctx.table,
        "endpoint_url": ctx.endpoint_url,
        "region": ctx.region,
        "revision": marker,
        "followers": followers,
    }
    lines = [f"{ctx.where()}", f"change revision: {marker}"]
    if not followers:
        lines.append("followed sources: none (`modelgate migrate SOURCE --follow` starts one)")
    for record in followers:
        found = record.get("found") or {}
        written = record.get("written") or {}
        wrote = ", ".join(f"{k} +{c['add']} ~{c['change']} -{c['remove']}" for k, c in written.items()) or "nothing"
        held, error, passes = record.get("held"), record.get("last_error"), record.get("passes") or 0
        rows = [
            ("source", f"{record['source']} ({record.get('shown')}, every {record.get('interval')} s)"),
            ("last pass", _ago(record.get("last_pass_at"), now) + (" STALE" if record["stale"] else "")),
            ("took", "-" if record.get("last_pass_seconds") is None else f"{record['last_pass_seconds']:.2f} s"),
            ("found", f"{found.get('users', 0)} users, {found.get('groups', 0)} groups, {found.get('tokens', 0)} keys"),
            ("wrote", f"{wrote} since {when(record.get('started_at'))}; {passes} pass{'' if passes == 1 else 'es'}"),
            ("conflicts", str(record.get("conflicts") or 0)),
            ("held", "no" if not held else f"removing or disabling {held['lost']} of {held['owned']} keys"),
            ("last error", f"{error} at {when(record.get('last_error_at'))}" if error else "none"),
        ]
        lines.append(table(["follower", ""], rows))
    ctx.emit(data, "\n".join(lines))
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "status",
        help="the table read, its change revision, and each followed one-api / new-api source",
        parents=[common],
        description="Print the table and region this reads, the change revision (it moves with every write that "
        "changes an answer), and for each `migrate --follow` source its status record: when its last pass "
        "completed and how long it took, what it found and wrote, any held mass removal, its last error.",
    )
    parser.set_defaults(run=status)
