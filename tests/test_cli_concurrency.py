"""Several operators at once: parallel `modelgate` processes on one table all succeed, and nothing is lost.

A conflict (another writer changed what a command read before it wrote) is retried by re-running the command,
with a jittered backoff; only when the retries run out does the command exit 3. Run on moto's server and on AWS
DynamoDB Local, each command a real `modelgate` process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from handler.core import keys
from handler.store import layout
from handler.store.dynamodb import DynamoDirectory
from infra.cli.context import Context
from infra.registry import Conflict, Contended, Registry, retry_conflicts
from tests.conftest import TABLE
from tests.support.cli import Cli
from tests.support.server import fresh_table, http_dynamodb

pytestmark = pytest.mark.integration

ENGINES = [pytest.param("moto"), pytest.param("dynamodb-local", marks=pytest.mark.dynamodb_local)]
WRITERS = 20
TEAMS = 6


def _endpoint(request: pytest.FixtureRequest, name: str) -> str:
    endpoint: str = request.getfixturevalue("moto_endpoint" if name == "moto" else "dynamodb_local_endpoint")
    return endpoint


def _in_parallel(commands: list[list[str]], endpoint: str, table: str) -> list[subprocess.CompletedProcess[str]]:
    """Start every `modelgate` process at once, then wait for all of them."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    connection = ["--endpoint-url", endpoint, "--table", table]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "infra.cli.main", *argv, *connection],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for argv in commands
    ]
    done = []
    for argv, process in zip(commands, processes, strict=True):
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
    return done


@pytest.mark.parametrize("engine", ENGINES)
def test_twenty_parallel_group_adds_all_succeed_and_nothing_is_lost(
    request: pytest.FixtureRequest, engine: str
) -> None:
    # GIVEN a catalog m0..m20 and a group vip holding m0
    endpoint = _endpoint(request, engine)
    models = [f"m{i}" for i in range(WRITERS + 1)]
    table, registry = fresh_table(endpoint, {"models": [{"id": m} for m in models], "groups": {"vip": ["m0"]}})

    # WHEN 20 processes run `modelgate group add vip m<i>` at once, each a different model
    runs = _in_parallel([["group", "add", "vip", f"m{i}"] for i in range(1, WRITERS + 1)], endpoint, table)

    # THEN every one exits 0
    assert [(run.returncode, run.stderr) for run in runs] == [(0, "")] * WRITERS
    # AND the group and the view the service reads both hold all 21 models
    assert sorted(registry.group_models("vip") or []) == sorted(models)
    view = DynamoDirectory(http_dynamodb(endpoint), table).group("vip")
    assert view is not None
    assert sorted(member.model_id for member in view.members) == sorted(models)
    assert view.version == registry.get(layout.group_key("vip"))["view_version"]  # type: ignore[index]


def _disjoint_seed(i: int) -> dict[str, Any]:
    """One team's file: its own models, group, user and key; nothing another file names."""
    return {
        "models": [{"id": f"team{i}-model{j}", "owned_by": f"team{i}"} for j in range(3)],
        "groups": {f"team{i}": [f"team{i}-model{j}" for j in range(3)]},
        "users": [{"id": f"user{i}", "group": f"team{i}"}],
        "tokens": [{"key": f"sk-team{i}-" + "0" * 40, "user": f"user{i}", "name": "ci"}],
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_parallel_applies_of_disjoint_files_all_succeed(
    request: pytest.FixtureRequest, engine: str, tmp_path: Path
) -> None:
    # GIVEN six seed files that name different models, groups, users and keys, and a table holding one group
    endpoint = _endpoint(request, engine)
    table, registry = fresh_table(endpoint, {"models": [{"id": "base"}], "groups": {"default": ["base"]}})
    files = []
    for i in range(TEAMS):
        path = tmp_path / f"team{i}.yaml"
        path.write_text(yaml.safe_dump(_disjoint_seed(i)))
        files.append(path)

    # WHEN `modelgate apply` runs on all six at once
    runs = _in_parallel([["apply", str(path)] for path in files], endpoint, table)

    # THEN every run exits 0, and the table holds what every file says, views included
    assert [(run.returncode, run.stderr) for run in runs] == [(0, "")] * len(files), [r.stderr for r in runs]
    directory = DynamoDirectory(http_dynamodb(endpoint), table)
    for i in range(TEAMS):
        view = directory.group(f"team{i}")
        assert view is not None
        assert [m.model_id for m in view.members] == [f"team{i}-model{j}" for j in range(3)]
        assert registry.user(f"user{i}")["group"] == f"team{i}"
        token = directory.token(keys.key_hash(f"sk-team{i}-" + "0" * 40))
        assert token is not None
        assert token.user_id == f"user{i}"
    assert directory.group("default") is not None


def test_a_conflict_is_retried_after_a_jittered_backoff_then_succeeds() -> None:
    # GIVEN work that meets a concurrent change twice, then none
    outcomes: list[Exception | None] = [Conflict(["ConditionalCheckFailed"]), Conflict(["TransactionConflict"]), None]
    pauses: list[float] = []

    def work() -> str:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return "written"

    # WHEN it runs under retry_conflicts (jitter fixed at half its range)
    result = retry_conflicts(work, sleep=pauses.append, jitter=lambda: 0.5)

    # THEN it is run again after each conflict, with a growing pause, and its result comes back
    assert result == "written"
    assert pauses == [0.025, 0.05]


def test_retries_are_bounded_and_their_end_says_so() -> None:
    # GIVEN work that conflicts every time
    runs: list[int] = []
    pauses: list[float] = []

    def work() -> None:
        runs.append(1)
        raise Conflict(["ConditionalCheckFailed"])

    # WHEN it runs under retry_conflicts
    with pytest.raises(Contended) as contended:
        retry_conflicts(work, sleep=pauses.append, jitter=lambda: 1.0)

    # THEN it ran 12 times, waited between runs only, never more than 1.5 s at once, and the error says why
    assert len(runs) == 12
    assert len(pauses) == 11
    assert max(pauses) == 1.5
    assert str(contended.value) == (
        "the table kept changing while this ran (ConditionalCheckFailed on each of 12 attempts); "
        "the last attempt wrote nothing: run it again"
    )


def test_a_command_whose_retries_run_out_exits_3_and_writes_nothing(
    seeded: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a rival operator who changes group vip just before each of our writes reaches the table
    rival = seeded.client
    before = seeded.group_models("vip") or []

    def change_vip(**_: Any) -> None:
        rival.update_item(
            TableName=TABLE,
            Key={"pk": {"S": layout.group_key("vip")[layout.PK]}, "sk": {"S": layout.GROUP}},
            UpdateExpression="SET view_version = :v",
            ExpressionAttributeValues={":v": {"S": os.urandom(6).hex()}},
        )

    registry = Registry(seeded.client, TABLE)
    seeded.client.meta.events.register("before-call.dynamodb.TransactWriteItems", change_vip)
    monkeypatch.setattr(Context, "registry", property(lambda _: registry))
    monkeypatch.setattr("time.sleep", lambda _: None)

    # WHEN `modelgate group add vip ...` runs
    run = Cli(capsys, ["--table", TABLE])("group", "add", "vip", "brand-new", "--allow-custom")

    # THEN it exits 3, says the table kept changing, and the group is as the rival left it
    assert run.code == 3
    assert run.out == ""
    assert run.err == (
        "error: the table kept changing while this ran (ConditionalCheckFailed on each of 12 attempts); "
        "the last attempt wrote nothing: run it again\n"
    )
    assert seeded.group_models("vip") == before


@pytest.mark.parametrize("engine", ENGINES)
def test_twenty_parallel_writers_each_log_their_own_revision(request: pytest.FixtureRequest, engine: str) -> None:
    # GIVEN a table with a group vip, its change marker at some revision
    endpoint = _endpoint(request, engine)
    table, registry = fresh_table(endpoint, {"models": [{"id": "m0"}], "groups": {"vip": ["m0"]}})
    before = registry.marker()

    # WHEN 20 processes run `modelgate user create u<i> --group vip` at once, all racing for the one marker item
    runs = _in_parallel([["user", "create", f"u{i}", "--group", "vip"] for i in range(WRITERS)], endpoint, table)

    # THEN every one exits 0, the marker moved once per write, and its log holds one entry per revision: each
    # exactly one user's fingerprint, every user's once (no writer logged into another's revision or was lost)
    assert [(run.returncode, run.stderr) for run in runs] == [(0, "")] * WRITERS
    after = registry.marker()
    assert after.revision == before.revision + WRITERS
    assert sorted(after.log[-WRITERS:]) == sorted(layout.fingerprint(f"USER#u{i}") for i in range(WRITERS))
    assert after.changed_since(before.revision) == frozenset(layout.fingerprint(f"USER#u{i}") for i in range(WRITERS))


def test_a_write_that_loses_the_race_for_the_marker_re_sends_itself_without_re_running_the_command(
    seeded: Registry,
) -> None:
    # GIVEN a rival writer, on its own client, that revokes bob's sessions just before each of our first two
    # transactions reaches the table
    rival = Registry(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
    sent: list[int] = []

    def race(**_: Any) -> None:
        sent.append(1)
        if len(sent) <= 2:
            rival.revoke_sessions("bob", now=1.0)

    seeded.client.meta.events.register("before-call.dynamodb.TransactWriteItems", race)
    before = seeded.marker().revision

    # WHEN alice is disabled, once (no retry_conflicts around it)
    seeded.update_user("alice", status="disabled")

    # THEN the transaction was sent three times (the marker moved before the first two), alice is disabled, and the
    # log holds the rival's two revisions, then ours
    assert len(sent) == 3
    assert seeded.user("alice")["status"] == "disabled"
    after = seeded.marker()
    assert after.revision == before + 3
    bob, alice = layout.fingerprint("USER#bob"), layout.fingerprint("USER#alice")
    assert after.log[-3:] == (bob, bob, alice)


def test_a_batch_whose_marker_bump_loses_the_race_re_reads_it_and_logs_its_own_revision(seeded: Registry) -> None:
    # GIVEN a rival writer, on its own client, that revokes bob's sessions just before our first marker update
    rival = Registry(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
    sent: list[int] = []

    def race(**_: Any) -> None:
        sent.append(1)
        if len(sent) == 1:
            rival.revoke_sessions("bob", now=1.0)

    seeded.client.meta.events.register("before-call.dynamodb.UpdateItem", race)
    before = seeded.marker().revision

    # WHEN two new users are written in one batch
    seeded.put_new_users([{"id": "dora", "group": "basic"}, {"id": "erin", "group": "basic"}])

    # THEN the marker update was sent twice, and the log holds the rival's revision, then the batch's, both users
    assert len(sent) == 2
    after = seeded.marker()
    assert after.revision == before + 2
    users = b"".join(sorted([layout.fingerprint("USER#dora"), layout.fingerprint("USER#erin")]))
    assert after.log[-2:] == (layout.fingerprint("USER#bob"), users)
