"""The operator's read-write access to the table: the only code that writes items.

Every write that spans several items (a group and its view chunks, a model and the views naming it, a key and
the check that its user is enabled) goes in one transaction whose conditions re-check what was read, so a
concurrent change cancels it instead of being overwritten. Catalog models are written in batches with unprocessed
items retried. Whenever a group or a catalog model changes, the views of the affected groups are rebuilt, because
the function reads only views. A view already current is not rewritten, so repeating a change writes nothing.
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
TRANSACTION_LIMIT = 100
MAX_BATCH_ATTEMPTS = 8
ENABLED, DISABLED = "enabled", "disabled"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class RegistryError(Exception):
    """A write could not complete (DynamoDB kept throttling, say). Batched writes may be re-run: they are idempotent."""


class Refused(RegistryError):
    """The table's state forbids the change (unknown, duplicate, still in use); nothing was written."""


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


def _key(key: Mapping[str, str]) -> dict[str, Any]:
    return {k: {"S": v} for k, v in key.items()}


def model_record(entry: Mapping[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in entry.items() if k not in {"id", "status"}}
    return {
        **layout.model_key(entry["id"]),
        layout.GSI1_PK: layout.LISTS[layout.MODEL],
        layout.GSI1_SK: entry["id"],
        "model_id": entry["id"],
        "status": entry.get("status", ENABLED),
        # The documented fields, exactly as given: JSON keeps their types and order.
        "entry": json.dumps(fields, separators=(",", ":"), ensure_ascii=False),
    }


def entry_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """A catalog record back as an entry: id, the stored documented fields, status."""
    return {"id": record["model_id"], **json.loads(record.get("entry") or "{}"), "status": record["status"]}


def view_members(
    model_ids: Sequence[str], catalog: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, dict[str, Any] | None]]:
    """A group's models joined with what a view keeps of their catalog entries: the documented fields and status."""
    return [
        (i, None if (e := catalog.get(i)) is None else {k: v for k, v in e.items() if k != "id"}) for i in model_ids
    ]


def view_version(model_ids: Sequence[str], catalog: Mapping[str, Mapping[str, Any]]) -> str:
    return layout.encode_view(view_members(model_ids, catalog))[0]


@dataclass(frozen=True)
class TokenRecord:
    """What may be shown of a key: never the key, never its hash."""

    token_id: str
    user_id: str
    name: str
    models: list[str] | None
    status: str
    expires_at: float | None
    created_at: float
    key_hint: str

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> TokenRecord:
        models = record.get("models")
        return cls(
            token_id=record["token_id"],
            user_id=record["user_id"],
            name=record.get("name") or "",
            models=None if models is None else [str(m) for m in models],
            status=record["status"],
            expires_at=record.get("expires_at"),
            created_at=record.get("created_at") or 0,
            key_hint=record.get("key_hint") or "****",
        )


_UNREAD: Any = object()  # "not read yet", where None means "read, and absent"

# Expired tokens stay listable for a while, then DynamoDB's TTL removes them.
PURGE_AFTER_EXPIRY_SECONDS = 30 * 86_400


def new_token_id() -> str:
    return "tok_" + secrets.token_hex(8)


class Registry:
    def __init__(self, client: DynamoDBClient, table: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.table = table
        self._sleep = sleep

    # -- reads ---------------------------------------------------------------------------------------------

    def get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=_key(key), ConsistentRead=True)
        item = response.get("Item")
        return None if item is None else from_item(item)

    def _query_gsi1(self, kind: str, ident: str | None = None) -> Iterator[dict[str, Any]]:
        condition = "#pk = :pk" + ("" if ident is None else " AND #sk = :sk")
        names = {"#pk": layout.GSI1_PK} | ({} if ident is None else {"#sk": layout.GSI1_SK})
        values = {":pk": {"S": layout.LISTS[kind]}} | ({} if ident is None else {":sk": {"S": ident}})
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": layout.GSI1,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        while True:
            page = self.client.query(**request)
            for item in page.get("Items", []):
                yield from_item(item)
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list_kind(self, kind: str) -> Iterator[dict[str, Any]]:
        """Every record of one kind, in id order, through the gsi1 index (eventually consistent)."""
        return self._query_gsi1(kind)

    def catalog(self) -> dict[str, dict[str, Any]]:
        return {record["model_id"]: entry_of(record) for record in self.list_kind(layout.MODEL)}

    def catalog_entries(self, model_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The catalog entries of these ids (those that exist), with BatchGetItem and retried unprocessed keys."""
        wanted = list(dict.fromkeys(model_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            chunk = wanted[start : start + BATCH_GET_LIMIT]
            request: dict[str, Any] = {
                self.table: {"Keys": [_key(layout.model_key(i)) for i in chunk], "ConsistentRead": True}
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

    def groups(self) -> dict[str, list[str]]:
        """Every group's ordered model ids, by name."""
        return {g["name"]: list(g.get("models") or []) for g in self.list_kind(layout.GROUP)}

    def users_in(self, group: str) -> list[str]:
        return [u["user_id"] for u in self.list_kind(layout.USER) if u.get("group") == group]

    def tokens(self, user_id: str | None = None) -> list[TokenRecord]:
        """Keys (masked), by owner and then by age."""
        records = (TokenRecord.of(r) for r in self.list_kind(layout.TOKEN))
        found = [t for t in records if user_id is None or t.user_id == user_id]
        return sorted(found, key=lambda t: (t.user_id, t.created_at, t.token_id))

    def _token_item(self, token_id: str) -> dict[str, Any]:
        for record in self._query_gsi1(layout.TOKEN, token_id):
            return record
        raise Refused(f"unknown key id {token_id!r}")

    def token(self, token_id: str) -> TokenRecord:
        return TokenRecord.of(self._token_item(token_id))

    # -- writes --------------------------------------------------------------------------------------------

    def batch_write(self, requests: Sequence[Mapping[str, Any]], progress: Callable[[int], None] | None = None) -> None:
        """Put or delete many items, 25 a request, retrying unprocessed items with backoff."""
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

    def put_models(self, entries: Sequence[Mapping[str, Any]], progress: Callable[[int], None] | None = None) -> None:
        """Write catalog models. The caller rebuilds the views naming them (apply does)."""
        self.batch_write([{"PutRequest": {"Item": to_item(model_record(e))}} for e in entries], progress)

    def delete_models(self, model_ids: Sequence[str]) -> None:
        """Drop catalog models. The caller rebuilds the views naming them (apply does)."""
        self.batch_write([{"DeleteRequest": {"Key": _key(layout.model_key(i))}} for i in model_ids])

    def transact(self, actions: Sequence[Mapping[str, Any]]) -> None:
        if not actions:
            return
        if len(actions) > TRANSACTION_LIMIT:
            raise Refused(f"the change spans {len(actions)} items, over the {TRANSACTION_LIMIT} of one transaction")
        try:
            self.client.transact_write_items(TransactItems=list(actions))  # type: ignore[arg-type]
        except self.client.exceptions.TransactionCanceledException as error:
            reasons = sorted({r.get("Code", "") for r in error.response.get("CancellationReasons", [])} - {"None"})
            raise Refused(
                f"the table changed while this ran ({', '.join(reasons)}); nothing was written, try again"
            ) from None

    def _update(self, key: Mapping[str, str], sets: Mapping[str, Any], condition: str) -> dict[str, Any]:
        """An Update action setting plain attributes, on the condition given (names as #a, values as :a)."""
        names = {f"#{name}": name for name in sets} | ({"#pk": layout.PK} if "#pk" in condition else {})
        return {
            "TableName": self.table,
            "Key": _key(key),
            "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in sets),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item({f":{name}": value for name, value in sets.items()}),
        }

    def _exists_check(self, key: Mapping[str, str], *, status: str | None = None) -> Any:
        """A ConditionCheck that the item exists (and has this status): re-checked when the transaction commits."""
        check: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(key),
            "ConditionExpression": "attribute_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": layout.PK},
        }
        if status is not None:
            check["ConditionExpression"] += " AND #s = :s"
            check["ExpressionAttributeNames"]["#s"] = "status"
            check["ExpressionAttributeValues"] = {":s": {"S": status}}
        return {"ConditionCheck": check}

    # -- groups and their views ----------------------------------------------------------------------------

    def group_actions(
        self,
        name: str,
        model_ids: Sequence[str] | None,
        catalog: Mapping[str, Mapping[str, Any]],
        previous: Mapping[str, Any] | None = _UNREAD,
    ) -> list[Any]:
        """The transaction items that write a group and its view (None: the models it has now), and drop its stale
        chunks; none when the group already is exactly so. The Put holds only if the group is still as `previous`
        (the record the change was computed from; read here when not given)."""
        if previous is _UNREAD:
            previous = self.get(layout.group_key(name))
        if model_ids is None:
            if previous is None:
                raise Refused(f"unknown group {name!r}")
            model_ids = list(previous.get("models") or [])
        version, chunks = layout.encode_view(view_members(model_ids, catalog))
        if previous and previous.get("view_version") == version and previous.get("models") == list(model_ids):
            return []
        group = {
            **layout.group_key(name),
            layout.GSI1_PK: layout.LISTS[layout.GROUP],
            layout.GSI1_SK: name,
            "name": name,
            "models": list(model_ids),
            "view_version": version,
            "view_chunks": len(chunks),
        }
        put: dict[str, Any] = {"TableName": self.table, "Item": to_item(group)}
        if previous is None:
            put |= {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": layout.PK}}
        else:
            put |= {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "view_version"},
                "ExpressionAttributeValues": {":v": {"S": str(previous.get("view_version", ""))}},
            }
        pk = layout.group_key(name)[layout.PK]
        actions: list[Any] = [{"Put": put}]
        for index, data in enumerate(chunks):
            chunk = {layout.PK: pk, layout.SK: layout.view_sk(index), "version": version, "chunks": len(chunks)}
            actions.append({"Put": {"TableName": self.table, "Item": to_item({**chunk, "data": data})}})
        old_chunks = int(previous.get("view_chunks", 0)) if previous else 0
        for index in range(len(chunks), old_chunks):
            actions.append({"Delete": {"TableName": self.table, "Key": _key(_view_key(pk, index))}})
        return actions

    def put_group(
        self,
        name: str,
        model_ids: Sequence[str] | None,
        catalog: Mapping[str, Mapping[str, Any]] | None = None,
        previous: Mapping[str, Any] | None = _UNREAD,
    ) -> bool:
        """Write a group (None: keep its models) with a fresh view, in one transaction. False if already so."""
        if catalog is None:
            catalog = self.catalog_entries(model_ids if model_ids is not None else self.group_models(name) or [])
        actions = self.group_actions(name, model_ids, catalog, previous)
        self.transact(actions)
        return bool(actions)

    def delete_group(self, name: str, *, check_users: bool = True) -> None:
        """The group and its view, in one transaction. Refused while users point to it."""
        previous = self.get(layout.group_key(name))
        if previous is None:
            raise Refused(f"unknown group {name!r}")
        users = self.users_in(name) if check_users else []
        if users:
            raise Refused(f"users still belong to group {name!r}: {', '.join(users)} (move them first)")
        pk = layout.group_key(name)[layout.PK]
        delete_group = {
            "TableName": self.table,
            "Key": _key(layout.group_key(name)),
            "ConditionExpression": "#v = :v",
            "ExpressionAttributeNames": {"#v": "view_version"},
            "ExpressionAttributeValues": {":v": {"S": str(previous.get("view_version", ""))}},
        }
        chunks = [
            {"Delete": {"TableName": self.table, "Key": _key(_view_key(pk, i))}}
            for i in range(int(previous.get("view_chunks", 0)))
        ]
        self.transact([{"Delete": delete_group}, *chunks])

    def rebuild_views(
        self,
        model_ids: Iterable[str] | None = None,
        *,
        skip: Iterable[str] = (),
        catalog: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Rebuild the stale views of the groups naming one of `model_ids` (all groups when None). Their names."""
        changed = None if model_ids is None else set(model_ids)
        skipped = set(skip)
        wanted = {
            name: members
            for name, members in self.groups().items()
            if name not in skipped and (changed is None or changed.intersection(members))
        }
        if not wanted:
            return []
        if catalog is None:
            catalog = self.catalog_entries({i for members in wanted.values() for i in members})
        return [name for name in wanted if self.put_group(name, None, catalog)]

    def _groups_naming(self, model_id: str) -> dict[str, list[str]]:
        return {name: members for name, members in self.groups().items() if model_id in members}

    def set_model_status(self, model_id: str, status: str) -> list[str]:
        """Enable or disable a catalog model and rebuild the views naming it, in one transaction. Their names."""
        record = self.get(layout.model_key(model_id))
        if record is None:
            raise Refused(f"unknown model {model_id!r}")
        if record["status"] == status:
            return []
        naming = self._groups_naming(model_id)
        catalog = self.catalog_entries({i for members in naming.values() for i in members})
        catalog[model_id] = {**entry_of(record), "status": status}
        update = self._update(layout.model_key(model_id), {"status": status}, "attribute_exists(#pk)")
        actions: list[Any] = [{"Update": update}]
        rebuilt = []
        for name in naming:
            group = self.group_actions(name, None, catalog)
            actions.extend(group)
            if group:
                rebuilt.append(name)
        self.transact(actions)
        return rebuilt

    def delete_model(self, model_id: str) -> list[str]:
        """Drop a catalog model and take it out of every group naming it, in one transaction. Those groups."""
        if self.get(layout.model_key(model_id)) is None:
            raise Refused(f"unknown model {model_id!r}")
        naming = self._groups_naming(model_id)
        catalog = self.catalog_entries({i for members in naming.values() for i in members} - {model_id})
        delete = {
            "TableName": self.table,
            "Key": _key(layout.model_key(model_id)),
            "ConditionExpression": "attribute_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": layout.PK},
        }
        actions: list[Any] = [{"Delete": delete}]
        for name in naming:
            fresh = self.group_models(name) or []
            actions.extend(self.group_actions(name, [i for i in fresh if i != model_id], catalog))
        self.transact(actions)
        return list(naming)

    # -- users ---------------------------------------------------------------------------------------------

    def _user_update(self, user_id: str, group: str, status: str) -> dict[str, Any]:
        return {
            "TableName": self.table,
            "Key": _key(layout.user_key(user_id)),
            "UpdateExpression": (
                "SET #g = :g, #s = :s, user_id = :id, gsi1pk = :lp, gsi1sk = :id, "
                "created_at = if_not_exists(created_at, :now)"
            ),
            "ExpressionAttributeNames": {"#g": "group", "#s": "status"},
            "ExpressionAttributeValues": to_item(
                {
                    ":g": group,
                    ":s": status,
                    ":id": user_id,
                    ":lp": layout.LISTS[layout.USER],
                    ":now": Decimal(int(time.time())),
                }
            ),
        }

    def put_user(self, user_id: str, group: str, status: str = ENABLED) -> None:
        """Create or update a user (apply's way: the seed is the truth)."""
        self.client.update_item(**self._user_update(user_id, group, status))

    def _require_group(self, name: str) -> None:
        if self.get(layout.group_key(name)) is None:
            raise Refused(f"unknown group {name!r}")

    def user(self, user_id: str) -> dict[str, Any]:
        record = self.get(layout.user_key(user_id))
        if record is None:
            raise Refused(f"unknown user {user_id!r}")
        return record

    def create_user(self, user_id: str, group: str) -> None:
        """A new enabled user. Refused for an existing id, an unknown group, or keys left by a former user of that
        id (they would work again)."""
        if self.get(layout.user_key(user_id)) is not None:
            raise Refused(f"user {user_id!r} already exists")
        self._require_group(group)
        leftover = [t.token_id for t in self.tokens(user_id)]
        if leftover:
            raise Refused(
                f"keys of a former user {user_id!r} still exist and would work again: {', '.join(leftover)} "
                "(delete them with `modelgate key delete`)"
            )
        update = self._user_update(user_id, group, ENABLED)
        update["ConditionExpression"] = "attribute_not_exists(pk)"
        self.transact([self._exists_check(layout.group_key(group)), {"Update": update}])

    def update_user(self, user_id: str, *, group: str | None = None, status: str | None = None) -> None:
        """Move a user to another group, or enable or disable them."""
        self.user(user_id)
        sets: dict[str, Any] = {}
        actions: list[Any] = []
        if group is not None:
            self._require_group(group)
            sets["group"] = group
            actions.append(self._exists_check(layout.group_key(group)))
        if status is not None:
            sets["status"] = status
        actions.append({"Update": self._update(layout.user_key(user_id), sets, "attribute_exists(#pk)")})
        self.transact(actions)

    def delete_user(self, user_id: str, *, with_tokens: bool) -> list[str]:
        """Drop a user, and with_tokens their keys too, in one transaction. The ids of the keys dropped."""
        self.user(user_id)
        tokens = [self._token_item(t.token_id) for t in self.tokens(user_id)] if with_tokens else []
        actions: list[Any] = [
            {"Delete": {"TableName": self.table, "Key": _key(layout.user_key(user_id))}},
            *({"Delete": {"TableName": self.table, "Key": _key(_record_key(t))}} for t in tokens),
        ]
        self.transact(actions)
        return [t["token_id"] for t in tokens]

    def revoke_sessions(self, user_id: str, *, now: float) -> None:
        """Refuse every session of the user issued before now (sessions carry whole seconds)."""
        self.client.update_item(
            TableName=self.table,
            Key=_key(layout.user_key(user_id)),
            UpdateExpression="SET sessions_valid_after = :t",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":t": {"N": str(int(now) + 1)}},
        )

    # -- tokens --------------------------------------------------------------------------------------------

    def _token_update(
        self,
        key: str,
        *,
        user_id: str,
        name: str,
        models: Sequence[str] | None,
        status: str,
        expires_at: float | None,
        token_id: str,
        now: int,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            ":u": user_id,
            ":n": name,
            ":s": status,
            ":id": token_id,
            ":lp": layout.LISTS[layout.TOKEN],
            ":hint": keys.mask(key),
            ":now": Decimal(now),
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
            removes.extend(["expires_at", layout.TTL_ATTRIBUTE])
        else:
            sets.extend(["expires_at = :e", f"{layout.TTL_ATTRIBUTE} = :p"])
            values[":e"] = Decimal(str(expires_at))
            values[":p"] = Decimal(int(expires_at) + PURGE_AFTER_EXPIRY_SECONDS)
        return {
            "TableName": self.table,
            "Key": _key(layout.token_key(keys.key_hash(key))),
            "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ExpressionAttributeNames": {"#n": "name", "#s": "status"},
            "ExpressionAttributeValues": to_item(values),
        }

    def put_token(
        self,
        key: str,
        *,
        user_id: str,
        name: str = "",
        models: Sequence[str] | None = None,
        status: str = ENABLED,
        expires_at: float | None = None,
        token_id: str | None = None,
    ) -> str:
        """Create or update the token of `key` (stored only as its hash; apply's way). Returns its public id."""
        update = self._token_update(
            key,
            user_id=user_id,
            name=name,
            models=models,
            status=status,
            expires_at=expires_at,
            token_id=token_id or new_token_id(),
            now=int(time.time()),
        )
        response = self.client.update_item(**update, ReturnValues="ALL_NEW")
        return str(response["Attributes"]["token_id"]["S"])

    def create_token(
        self,
        key: str,
        *,
        user_id: str,
        name: str = "",
        models: Sequence[str] | None = None,
        expires_at: float | None = None,
    ) -> TokenRecord:
        """A new enabled key of an enabled user, in one transaction that re-checks the user."""
        if self.user(user_id).get("status") != ENABLED:
            raise Refused(f"user {user_id!r} is disabled; enable them before giving them a key")
        token = TokenRecord(
            token_id=new_token_id(),
            user_id=user_id,
            name=name,
            models=None if models is None else list(models),
            status=ENABLED,
            expires_at=expires_at,
            created_at=int(time.time()),
            key_hint=keys.mask(key),
        )
        update = self._token_update(
            key,
            user_id=user_id,
            name=name,
            models=models,
            status=ENABLED,
            expires_at=expires_at,
            token_id=token.token_id,
            now=int(token.created_at),
        )
        update["ConditionExpression"] = "attribute_not_exists(pk)"
        self.transact([self._exists_check(layout.user_key(user_id), status=ENABLED), {"Update": update}])
        return token

    def set_token_status(self, token_id: str, status: str) -> TokenRecord:
        """Enable or disable a key found by its public id (through gsi1), updated by its table key."""
        record = self._token_item(token_id)
        condition = "attribute_exists(#pk) AND #token_id = :token_id"
        update = self._update(_record_key(record), {"status": status}, condition)
        update["ExpressionAttributeNames"]["#token_id"] = "token_id"
        update["ExpressionAttributeValues"][":token_id"] = {"S": token_id}
        self.transact([{"Update": update}])
        return TokenRecord.of({**record, "status": status})

    def delete_token(self, token_id: str) -> TokenRecord:
        record = self._token_item(token_id)
        delete = {
            "TableName": self.table,
            "Key": _key(_record_key(record)),
            "ConditionExpression": "#token_id = :token_id",
            "ExpressionAttributeNames": {"#token_id": "token_id"},
            "ExpressionAttributeValues": {":token_id": {"S": token_id}},
        }
        self.transact([{"Delete": delete}])
        return TokenRecord.of(record)


def _view_key(pk: str, index: int) -> dict[str, str]:
    return {layout.PK: pk, layout.SK: layout.view_sk(index)}


def _record_key(record: Mapping[str, Any]) -> dict[str, str]:
    return {layout.PK: record[layout.PK], layout.SK: record[layout.SK]}
