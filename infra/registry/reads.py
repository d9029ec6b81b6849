"""What the registry's jobs read before they write: consistent GetItem, and gsi1 listings of each kind."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from handler.core import keys
from handler.store import layout
from infra.registry.records import TokenRecord, entry_of, from_item, item_key
from infra.registry.writes import Refused, Table


class Reads(Table):
    def get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=item_key(key), ConsistentRead=True)
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
        wanted = [layout.model_key(i) for i in dict.fromkeys(model_ids)]
        records = (from_item(item) for item in self.batch_get(wanted, "catalog"))
        return {record["model_id"]: entry_of(record) for record in records}

    def group_models(self, name: str) -> list[str] | None:
        record = self.get(layout.group_key(name))
        return None if record is None else list(record.get("models") or [])

    def groups(self) -> dict[str, list[str]]:
        """Every group's ordered model ids, by name."""
        return {g["name"]: list(g.get("models") or []) for g in self.list_kind(layout.GROUP)}

    def users_in(self, group: str) -> list[str]:
        return [u["user_id"] for u in self.list_kind(layout.USER) if u.get("group") == group]

    def user(self, user_id: str) -> dict[str, Any]:
        record = self.get(layout.user_key(user_id))
        if record is None:
            raise Refused(f"unknown user {user_id!r}")
        return record

    def tokens(self, user_id: str | None = None) -> list[TokenRecord]:
        """Keys (masked), by owner and then by age."""
        records = (TokenRecord.of(r) for r in self.list_kind(layout.TOKEN))
        found = [t for t in records if user_id is None or t.user_id == user_id]
        return sorted(found, key=lambda t: (t.user_id, t.created_at, t.token_id))

    def _token_item(self, token_ref: str) -> dict[str, Any]:
        """A token by its public id, or by the key itself (pasted where the id goes): found by its hash, in each
        form the service accepts it. Refused naming an id as given, and a key only masked."""
        for record in self._query_gsi1(layout.TOKEN, token_ref):
            return record
        if keys.is_well_formed(token_ref):
            for key in filter(None, (token_ref, keys.one_api_form(token_ref))):
                found = self.get(layout.token_key(keys.key_hash(key)))
                if found is not None:
                    return found
        if keys.looks_like_key(token_ref):
            hint = "give its id (tok_...) from `modelgate key list`, or the key itself"
            raise Refused(f"unknown key {keys.mask(token_ref)}: {hint}")
        raise Refused(f"unknown key id {token_ref!r}")

    def token(self, token_ref: str) -> TokenRecord:
        return TokenRecord.of(self._token_item(token_ref))
