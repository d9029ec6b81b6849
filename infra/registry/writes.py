"""The one layer that sends writes: batches with unprocessed items retried, transactions, and conflict retries.

Every write that can change an answer also moves the change marker (layout.changes_key) to the next revision, in
the same transaction, or strictly after a batch (also one stopped part-way, for what it sent), and logs the pks
it wrote there (layout.Marker): that is how running containers learn, within seconds, which records they cached
are stale. The pks come from the items sent, so no caller says what it changed. A write that changes nothing is
not sent, so it does not bump.

The marker is read first (one GetItem), and its update is conditional on the revision read: two writers never log
into the same revision. A writer whose only failure is that the marker moved (another write came first, or was
committing) reads it again and re-sends the same actions, which re-check their own conditions; that is a race on
the marker, not a conflict of the command, so the command is not re-run for it.

A conflict is not a refusal. Every write re-checks, when it commits, what it was computed from; when another
writer changed that in between, the write is cancelled (nothing written) and raises Conflict. The unit of work that
read and wrote (a whole CLI command: it re-reads everything) is then run again by `retry_conflicts`, after a
jittered backoff, a bounded number of times. An uncontended write costs the requests it did before the change log,
plus the GetItem of the marker.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from handler.store import layout
from infra.registry.records import item_key, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100
MAX_BATCH_ATTEMPTS = 8
# 20 writers on one item all finish within these (tests/test_cli_concurrency.py); the waits add up to ~10 s at most.
CONFLICT_ATTEMPTS = 12
CONFLICT_BACKOFF_SECONDS = 0.05
CONFLICT_BACKOFF_CAP_SECONDS = 1.5
# What says "another writer got there first", as a transaction's cancellation reason or a single write's error.
CONFLICT_CODES = frozenset(
    {"ConditionalCheckFailed", "TransactionConflict", "ConditionalCheckFailedException", "TransactionConflictException"}
)
T = TypeVar("T")


class RegistryError(Exception):
    """A write could not complete (DynamoDB kept throttling, say). Batched writes may be re-run: they are idempotent."""


class Refused(RegistryError):
    """The table's state forbids the change (unknown, duplicate, still in use); nothing was written."""


class Conflict(RegistryError):
    """Another writer changed what this write was computed from; nothing of it was written. Re-read and retry."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = tuple(reasons)


class Contended(RegistryError):
    """Conflicts every time, CONFLICT_ATTEMPTS times: the table kept changing under this command."""


def backoff(attempt: int, jitter: Callable[[], float] = random.random) -> float:
    """The wait before attempt `attempt + 1`: "full jitter", a uniform wait up to an exponentially growing ceiling,
    so writers that collided spread apart."""
    return jitter() * min(CONFLICT_BACKOFF_CAP_SECONDS, CONFLICT_BACKOFF_SECONDS * 2.0**attempt)


def written_pks(requests: Iterable[Mapping[str, Any]]) -> list[str]:
    """The pks that transaction actions or batch requests write (a ConditionCheck writes nothing)."""
    pks = []
    for request in requests:
        for kind in ("Put", "Update", "Delete", "PutRequest", "DeleteRequest"):
            if kind in request:
                body = request[kind]
                pks.append(str((body.get("Item") or body["Key"])[layout.PK]["S"]))
    return pks


def retry_conflicts(
    work: Callable[[], T],
    *,
    attempts: int = CONFLICT_ATTEMPTS,
    sleep: Callable[[float], None] | None = None,
    jitter: Callable[[], float] = random.random,
) -> T:
    """Run `work` (which reads what it needs, then writes) until it meets no conflict, with `backoff` between."""
    for attempt in range(attempts):
        try:
            return work()
        except Conflict as conflict:
            reasons = conflict.reasons
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code not in CONFLICT_CODES:
                raise
            reasons = (code.removesuffix("Exception"),)
        if attempt + 1 < attempts:
            (sleep or time.sleep)(backoff(attempt, jitter))
    raise Contended(
        f"the table kept changing while this ran ({', '.join(reasons)} on each of {attempts} attempts); "
        "the last attempt wrote nothing: run it again"
    )


class Table:
    """The table, as the registry's jobs share it: one client, one name, and the ways to send many items."""

    def __init__(self, client: DynamoDBClient, table: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.table = table
        self._sleep = sleep

    def batch_get(self, keys: Sequence[Mapping[str, str]], what: str) -> list[dict[str, Any]]:
        """Items by key (those that exist), 100 a request, consistently, retrying unprocessed keys with backoff."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            chunk = keys[start : start + BATCH_GET_LIMIT]
            request: dict[str, Any] = {self.table: {"Keys": [item_key(k) for k in chunk], "ConsistentRead": True}}
            for attempt in range(MAX_BATCH_ATTEMPTS):
                response = self.client.batch_get_item(RequestItems=request)
                found.extend(response.get("Responses", {}).get(self.table, []))
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
                self._sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise RegistryError(f"DynamoDB kept throttling the {what} read; try again")
        return found

    def batch_write(
        self,
        requests: Sequence[Mapping[str, Any]],
        progress: Callable[[int], None] | None = None,
        *,
        changes_answers: bool = True,
    ) -> None:
        """Put or delete many items, 25 a request, retrying unprocessed items with backoff; then bump the marker,
        unless the caller says these items change no answer by themselves (catalog models: the function reads only
        views, and the views rebuilt after them bump).

        The marker moves for every chunk sent, also when the batch stops part-way (`progress` raised: a follower
        stopping, Ctrl-C; a chunk still throttled; a failed request): a re-run writes only differences, so it would
        never announce the items already written, and a warm container would keep them stale (a new key refused as
        unknown) until CACHE_MAX_AGE_SECONDS."""
        sent = 0
        try:
            for start in range(0, len(requests), BATCH_WRITE_LIMIT):
                pending: list[Any] = list(requests[start : start + BATCH_WRITE_LIMIT])
                sent = start + len(pending)  # counted before it is sent: a chunk cut short may have written part
                for attempt in range(MAX_BATCH_ATTEMPTS):
                    response = self.client.batch_write_item(RequestItems={self.table: pending})
                    pending = list((response.get("UnprocessedItems") or {}).get(self.table, []))
                    if not pending:
                        break
                    self._sleep(min(0.05 * 2**attempt, 2.0))
                else:
                    raise RegistryError("DynamoDB kept throttling the batch write; re-run it (it is idempotent)")
                if progress is not None:
                    progress(sent)
        finally:
            if sent and changes_answers:
                self._bump_alone(written_pks(requests[:sent]))

    def marker(self) -> layout.Marker:
        """The change marker as it is now (one consistent GetItem)."""
        response = self.client.get_item(TableName=self.table, Key=item_key(layout.changes_key()), ConsistentRead=True)
        return layout.marker_of(response.get("Item"))

    def _bump(self, pks: Sequence[str]) -> dict[str, Any]:
        """The Update that moves the marker from the revision it holds now to the next, logging `pks` there; it
        fails (ConditionalCheckFailed) if another write moves it first."""
        seen = self.marker()
        after = seen.next(pks)
        values: dict[str, Any] = {
            ":next": {"N": str(after.revision)},
            ":now": {"N": str(int(time.time()))},
            ":log": {"L": [{"B": entry} for entry in after.log]},
        }
        if seen.revision:
            values[":seen"] = {"N": str(seen.revision)}
        return {
            "TableName": self.table,
            "Key": item_key(layout.changes_key()),
            "UpdateExpression": "SET #r = :next, #at = :now, #log = :log, #logged = :next",
            "ConditionExpression": "#r = :seen" if seen.revision else "attribute_not_exists(#r)",
            "ExpressionAttributeNames": {
                "#r": layout.REVISION,
                "#at": layout.CHANGED_AT,
                "#log": layout.LOG,
                "#logged": layout.LOG_REVISION,
            },
            "ExpressionAttributeValues": values,
        }

    def _bump_alone(self, pks: Sequence[str]) -> None:
        """Move the marker after a batch, logging `pks`, re-reading it as long as other writers move it first. When
        they always do, move it plainly instead: one more revision with no log (`layout.Marker`), so containers drop
        everything. That move has no condition, so only a transaction committing on the marker at that instant
        can refuse it; it too is retried, and only then does the batch fail (exit 1, not 3: its items are written,
        and a re-run, writing only differences, would not announce them)."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.update_item(**self._bump(pks))
                return
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in CONFLICT_CODES:
                    raise
            self._sleep(backoff(attempt))
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=item_key(layout.changes_key()),
                    UpdateExpression="SET #at = :now REMOVE #log, #logged ADD #r :one",
                    ExpressionAttributeNames={
                        "#r": layout.REVISION,
                        "#at": layout.CHANGED_AT,
                        "#log": layout.LOG,
                        "#logged": layout.LOG_REVISION,
                    },
                    ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(int(time.time()))}},
                )
                return
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in CONFLICT_CODES:
                    raise
            self._sleep(backoff(attempt))
        raise RegistryError(
            f"the items are written, but the change marker kept moving ({2 * CONFLICT_ATTEMPTS} attempts): warm "
            "containers see them only within CACHE_MAX_AGE_SECONDS"
        )

    def transact(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """Write these items all or nothing, with the marker bump; nothing at all (no bump) when there are none."""
        if not actions:
            return
        if len(actions) + 1 > TRANSACTION_LIMIT:
            raise Refused(f"the change spans {len(actions)} items, over the {TRANSACTION_LIMIT - 1} of one transaction")
        pks = written_pks(actions)
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                items: list[Any] = [*actions, {"Update": self._bump(pks)}]
                self.client.transact_write_items(TransactItems=items)
                return
            except self.client.exceptions.TransactionCanceledException as error:
                codes = [r.get("Code") or "None" for r in error.response.get("CancellationReasons", [])]
                reasons = sorted(set(codes) - {"None"})
                marker_moved = len(codes) == len(items) and codes[-1] in CONFLICT_CODES and set(codes[:-1]) == {"None"}
                if not marker_moved:
                    if CONFLICT_CODES.intersection(reasons):
                        raise Conflict(reasons) from None
                    raise Refused(
                        f"the table changed while this ran ({', '.join(reasons)}); nothing was written, try again"
                    ) from None
            self._sleep(backoff(attempt))  # only the marker moved: read it again and re-send
        raise Contended(
            f"the change marker kept moving ({CONFLICT_ATTEMPTS} attempts); nothing was written: run it again"
        )

    def update_action(self, key: Mapping[str, str], sets: Mapping[str, Any], condition: str) -> dict[str, Any]:
        """An Update action setting plain attributes, on the condition given (names as #a, values as :a)."""
        names = {f"#{name}": name for name in sets} | ({"#pk": layout.PK} if "#pk" in condition else {})
        return {
            "TableName": self.table,
            "Key": item_key(key),
            "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in sets),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item({f":{name}": value for name, value in sets.items()}),
        }

    def exists_check(self, key: Mapping[str, str], *, status: str | None = None) -> Any:
        """A ConditionCheck that the item exists (and has this status): re-checked when the transaction commits."""
        check: dict[str, Any] = {
            "TableName": self.table,
            "Key": item_key(key),
            "ConditionExpression": "attribute_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": layout.PK},
        }
        if status is not None:
            check["ConditionExpression"] += " AND #s = :s"
            check["ExpressionAttributeNames"]["#s"] = "status"
            check["ExpressionAttributeValues"] = {":s": {"S": status}}
        return {"ConditionCheck": check}
