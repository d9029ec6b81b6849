"""What the registry writes, as items: the codecs between plain records and DynamoDB's typed attributes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from handler.store import layout

ENABLED, DISABLED = "enabled", "disabled"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

UNREAD: Any = object()  # "not read yet", where None means "read, and absent"


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


def item_key(key: Mapping[str, str]) -> dict[str, Any]:
    return {k: {"S": v} for k, v in key.items()}


def view_key(pk: str, index: int) -> dict[str, str]:
    return {layout.PK: pk, layout.SK: layout.view_sk(index)}


def record_key(record: Mapping[str, Any]) -> dict[str, str]:
    return {layout.PK: record[layout.PK], layout.SK: record[layout.SK]}


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
    allow_ips: list[str] | None = None  # client networks it may be used from; None: anywhere
    group: str | None = None  # a group replacing its owner's
    origin: str | None = None  # `migrate:<source>` when migrate keeps it in step

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
            allow_ips=None if record.get("allow_ips") is None else [str(n) for n in record["allow_ips"]],
            group=record.get("group") or None,
            origin=record.get("origin") or None,
        )
