"""The one layer that sends writes: batches with unprocessed items retried, transactions, and conflict retries.

Every write that can change an answer also increments the change marker (layout.changes_key), in the same
transaction, or strictly after a batch: that is how running containers learn, within seconds, that what they cached
is stale. A write that changes nothing is not sent, so it does not bump.

A conflict is not a refusal. Every write re-checks, when it commits, what it was computed from; when another
writer changed that in between, the write is cancelled (nothing written) and raises Conflict. The unit of work that
read and wrote (a whole CLI command: it re-reads everything) is then run again by `retry_conflicts`, after a
jittered backoff, a bounded number of times. An uncontended write costs exactly the requests it did before.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
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


def retry_conflicts(
    work: Callable[[], T],
    *,
    attempts: int = CONFLICT_ATTEMPTS,
    sleep: Callable[[float], None] | None = None,
    jitter: Callable[[], float] = random.random,
) -> T:
    """Run `work` (which reads what it needs, then writes) until it meets no conflict. The backoff is "full
    jitter": a uniform wait up to an exponentially growing ceiling, so writers that collided spread apart."""
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
            (sleep or time.sleep)(jitter() * min(CONFLICT_BACKOFF_CAP_SECONDS, CONFLICT_BACKOFF_SECONDS * 2**attempt))
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
        views, and the views rebuilt after them bump)."""
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            pending: list[Any] = list(requests[start : start + BATCH_WRITE_LIMIT])
            for attempt in range(MAX_BATCH_ATTEMPTS):
                response = self.client.batch_write_item(RequestItems={self.table: pending})
                pending = list((response.get("UnprocessedItems") or {}).get(self.table, []))
                if not pending:
                    break
                self._sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise RegistryError("DynamoDB kept throttling the batch write; re-run it (it is idempotent)")
            if progress is not None:
                progress(min(start + BATCH_WRITE_LIMIT, len(requests)))
        if requests and changes_answers:
            self.client.update_item(**self._bump())

    def _bump(self) -> dict[str, Any]:
        """The Update that increments the change marker (created at 1 by the first write)."""
        return {
            "TableName": self.table,
            "Key": item_key(layout.changes_key()),
            "UpdateExpression": "ADD #r :one SET changed_at = :now",
            "ExpressionAttributeNames": {"#r": layout.REVISION},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":now": {"N": str(int(time.time()))}},
        }

    def transact(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """Write these items all or nothing, with the marker bump; nothing at all (no bump) when there are none."""
        if not actions:
            return
        if len(actions) + 1 > TRANSACTION_LIMIT:
            raise Refused(f"the change spans {len(actions)} items, over the {TRANSACTION_LIMIT - 1} of one transaction")
        try:
            items: list[Any] = [*actions, {"Update": self._bump()}]
            self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.TransactionCanceledException as error:
            reasons = sorted({r.get("Code", "") for r in error.response.get("CancellationReasons", [])} - {"None", ""})
            if CONFLICT_CODES.intersection(reasons):
                raise Conflict(reasons) from None
            raise Refused(
                f"the table changed while this ran ({', '.join(reasons)}); nothing was written, try again"
            ) from None

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
