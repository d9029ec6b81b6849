"""The operator's read-write access to the table: the only code that writes items.

Every write that spans several items (a group and its view chunks, say) goes in one transaction. Catalog
models are written in batches with unprocessed items retried. Whenever a group or a catalog model changes,
the views of the affected groups are rebuilt, because the function reads only views.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from handler.core import keys
from handler.store import layout

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
MAX_BATCH_ATTEMPTS = 8
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class RegistryError(Exception):
    """A write was refused or could not complete; nothing half-written was left behind."""


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; give ints back as int."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_item(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in record.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def model_record(entry: Mapping[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in entry.items() if k not in {"id", "status"}}
    return {
        **layout.model_key(entry["id"]),
        layout.GSI1_PK: layout.LISTS[layout.MODEL],
        layout.GSI1_SK: entry["id"],
        "model_id": entry["id"],
        "status": entry.get("status", "enabled"),
        # The documented fields, exactly as given: JSON keeps their types and order.
        "entry": json.dumps(fields, separators=(",", ":"), ensure_ascii=False),
    }


def entry_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """A catalog record back as an entry: id, the stored documented fields, status."""
    return {"id": record["model_id"], **json.loads(record.get("entry") or "{}"), "status": record["status"]}


@dataclass
class TokenRecord:
    token_id: str
    user_id: str
    name: str
    models: list[str] | None
    status: str
    expires_at: float | None
    created_at: float
    key_hint: str


class Registry:
    def __init__(self, client: DynamoDBClient, table: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.table = table
        self._sleep = sleep

    # -- reads ---------------------------------------------------------------------------------------------

    def get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table, Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else from_item(item)

    def list_kind(self, kind: str) -> Iterator[dict[str, Any]]:
        """Every record of one kind, in id order, through the gsi1 index."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": layout.GSI1,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": layout.GSI1_PK},
            "ExpressionAttributeValues": {":pk": {"S": layout.LISTS[kind]}},
        }
        while True:
            page = self.client.query(**request)
            for item in page.get("Items", []):
                yield from_item(item)
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def catalog(self) -> dict[str, dict[str, Any]]:
        return {record["model_id"]: entry_of(record) for record in self.list_kind(layout.MODEL)}

    def catalog_entries(self, model_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The catalog entries of these ids (those that exist), with BatchGetItem and retried unprocessed keys."""
        wanted = list(dict.fromkeys(model_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        {k: {"S": v} for k, v in layout.model_key(i).items()}
                        for i in wanted[start : start + BATCH_GET_LIMIT]
                    ],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(MAX_BATCH_ATTEMPTS):
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    record = from_item(item)
                    found[record["model_id"]] = entry_of(record)
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
                self._sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise RegistryError("DynamoDB kept throttling the catalog read; try again")
        return found

    def group_models(self, name: str) -> list[str] | None:
        record = self.get(layout.group_key(name))
        return None if record is None else list(record.get("models") or [])

    # -- writes --------------------------------------------------------------------------------------------

    def batch_put(self, records: Sequence[Mapping[str, Any]], progress: Callable[[int], None] | None = None) -> None:
        """Put many items, 25 a request, retrying unprocessed items with backoff."""
        for start in range(0, len(records), BATCH_WRITE_LIMIT):
            pending: list[Any] = [
                {"PutRequest": {"Item": to_item(r)}} for r in records[start : start + BATCH_WRITE_LIMIT]
            ]
            for attempt in range(MAX_BATCH_ATTEMPTS):
                response = self.client.batch_write_item(RequestItems={self.table: pending})
                pending = list((response.get("UnprocessedItems") or {}).get(self.table, []))
                if not pending:
                    break
                self._sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise RegistryError("DynamoDB kept throttling the batch write; re-run it (it is idempotent)")
            if progress is not None:
                progress(min(start + BATCH_WRITE_LIMIT, len(records)))

    def put_models(self, entries: Sequence[Mapping[str, Any]], progress: Callable[[int], None] | None = None) -> None:
        self.batch_put([model_record(e) for e in entries], progress)

    def transact(self, actions: Sequence[Mapping[str, Any]]) -> None:
        if len(actions) > 100:
            raise RegistryError("change too large for one transaction (over 100 items)")
        try:
            self.client.transact_write_items(TransactItems=list(actions))  # type: ignore[arg-type]
        except self.client.exceptions.TransactionCanceledException as error:
            reasons = [r.get("Code", "") for r in error.response.get("CancellationReasons", [])]
            raise RegistryError(f"the change was refused and nothing was written ({', '.join(reasons)})") from None

    def group_actions(self, name: str, model_ids: Sequence[str], catalog: Mapping[str, Mapping[str, Any]]) -> list[Any]:
        """The transaction items that write a group and its freshly built view, and drop its stale chunks."""
        members = [(i, _view_entry(catalog.get(i))) for i in model_ids]
        version, chunks = layout.encode_view(members)
        previous = self.get(layout.group_key(name))
        old_chunks = int(previous.get("view_chunks", 0)) if previous else 0
        group = {
            **layout.group_key(name),
            layout.GSI1_PK: layout.LISTS[layout.GROUP],
            layout.GSI1_SK: name,
            "name": name,
            "models": list(model_ids),
            "view_version": version,
            "view_chunks": len(chunks),
        }
        pk = layout.group_key(name)[layout.PK]
        actions: list[Any] = [{"Put": {"TableName": self.table, "Item": to_item(group)}}]
        for index, data in enumerate(chunks):
            chunk = {
                layout.PK: pk,
                layout.SK: layout.view_sk(index),
                "version": version,
                "chunks": len(chunks),
                "data": data,
            }
            actions.append({"Put": {"TableName": self.table, "Item": to_item(chunk)}})
        for index in range(len(chunks), old_chunks):
            key = {layout.PK: {"S": pk}, layout.SK: {"S": layout.view_sk(index)}}
            actions.append({"Delete": {"TableName": self.table, "Key": key}})
        return actions

    def put_group(
        self, name: str, model_ids: Sequence[str], catalog: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        if catalog is None:
            catalog = self.catalog_entries(model_ids)
        self.transact(self.group_actions(name, model_ids, catalog))

    def rebuild_views(self, model_ids: Iterable[str] | None = None, *, skip: Iterable[str] = ()) -> list[str]:
        """Rebuild the view of every group naming one of `model_ids` (all groups when None). Their names."""
        changed = None if model_ids is None else set(model_ids)
        skipped = set(skip)
        rebuilt = []
        groups = [
            (g["name"], list(g.get("models") or [])) for g in self.list_kind(layout.GROUP) if g["name"] not in skipped
        ]
        wanted = [(n, m) for n, m in groups if changed is None or changed.intersection(m)]
        if not wanted:
            return []
        catalog = self.catalog_entries({i for _, members in wanted for i in members})
        for name, members in wanted:
            self.put_group(name, members, catalog)
            rebuilt.append(name)
        return rebuilt

    def put_user(self, user_id: str, group: str, status: str = "enabled") -> None:
        self.client.update_item(
            TableName=self.table,
            Key={k: {"S": v} for k, v in layout.user_key(user_id).items()},
            UpdateExpression=(
                "SET #g = :g, #s = :s, user_id = :id, gsi1pk = :lp, gsi1sk = :id, "
                "created_at = if_not_exists(created_at, :now)"
            ),
            ExpressionAttributeNames={"#g": "group", "#s": "status"},
            ExpressionAttributeValues=to_item(
                {
                    ":g": group,
                    ":s": status,
                    ":id": user_id,
                    ":lp": layout.LISTS[layout.USER],
                    ":now": Decimal(int(time.time())),
                }
            ),
        )

    def revoke_sessions(self, user_id: str, *, now: float) -> None:
        """Refuse every session of the user issued before now (sessions carry whole seconds)."""
        self.client.update_item(
            TableName=self.table,
            Key={k: {"S": v} for k, v in layout.user_key(user_id).items()},
            UpdateExpression="SET sessions_valid_after = :t",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":t": {"N": str(int(now) + 1)}},
        )

    def put_token(
        self,
        key: str,
        *,
        user_id: str,
        name: str = "",
        models: Sequence[str] | None = None,
        status: str = "enabled",
        expires_at: float | None = None,
        token_id: str | None = None,
    ) -> str:
        """Create or update the token of `key` (stored only as its hash). Returns its public id."""
        new_id = token_id or new_token_id()
        values: dict[str, Any] = {
            ":u": user_id,
            ":n": name,
            ":s": status,
            ":id": new_id,
            ":lp": layout.LISTS[layout.TOKEN],
            ":hint": keys.mask(key),
            ":now": Decimal(int(time.time())),
        }
        sets = [
            "user_id = :u",
            "#n = :n",
            "#s = :s",
            "token_id = if_not_exists(token_id, :id)",
            "gsi1pk = :lp",
            "gsi1sk = if_not_exists(gsi1sk, :id)",
            "key_hint = :hint",
            "created_at = if_not_exists(created_at, :now)",
        ]
        removes = []
        if models is None:
            removes.append("models")
        else:
            sets.append("models = :m")
            values[":m"] = list(models)
        if expires_at is None:
            removes.extend(["expires_at", "purge_at"])
        else:
            sets.extend(["expires_at = :e", "purge_at = :p"])
            values[":e"] = Decimal(str(expires_at))
            values[":p"] = Decimal(int(expires_at) + PURGE_AFTER_EXPIRY_SECONDS)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        response = self.client.update_item(
            TableName=self.table,
            Key={k: {"S": v} for k, v in layout.token_key(keys.key_hash(key)).items()},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#n": "name", "#s": "status"},
            ExpressionAttributeValues=to_item(values),
            ReturnValues="ALL_NEW",
        )
        return str(response["Attributes"]["token_id"]["S"])


# Expired tokens stay listable for a while, then DynamoDB's TTL removes them.
PURGE_AFTER_EXPIRY_SECONDS = 30 * 86_400


def new_token_id() -> str:
    return "tok_" + secrets.token_hex(8)


def _view_entry(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a view keeps of a catalog entry: the documented fields and the status."""
    if entry is None:
        return None
    return {k: v for k, v in entry.items() if k != "id"}
