"""The catalog: the models, and the writes that change them together with the views naming them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from handler.store import layout
from infra.registry.groups import Groups
from infra.registry.records import entry_of, item_key, model_record, to_item
from infra.registry.writes import Refused


class Catalog(Groups):
    def put_models(self, entries: Sequence[Mapping[str, Any]], progress: Callable[[int], None] | None = None) -> None:
        """Write catalog models. The caller rebuilds the views naming them (apply does)."""
        requests = [{"PutRequest": {"Item": to_item(model_record(e))}} for e in entries]
        self.batch_write(requests, progress, changes_answers=False)

    def delete_models(self, model_ids: Sequence[str]) -> None:
        """Drop catalog models. The caller rebuilds the views naming them (apply does)."""
        requests = [{"DeleteRequest": {"Key": item_key(layout.model_key(i))}} for i in model_ids]
        self.batch_write(requests, changes_answers=False)

    def set_model_status(self, model_id: str, status: str) -> list[str]:
        """Enable or disable a catalog model and rebuild the views naming it, in one transaction. Their names."""
        record = self.get(layout.model_key(model_id))
        if record is None:
            raise Refused(f"unknown model {model_id!r}")
        if record["status"] == status:
            return []
        update = self.update_action(layout.model_key(model_id), {"status": status}, "attribute_exists(#pk)")
        return self._write_with_views({**entry_of(record), "status": status}, {"Update": update})

    def put_model(self, entry: Mapping[str, Any], previous: Mapping[str, Any]) -> list[str]:
        """Replace a catalog model's entry and rebuild the views naming it, in one transaction; their names. It
        holds only while the model is still `previous`, the entry the change was computed from."""
        old = model_record(previous)
        put = {
            "TableName": self.table,
            "Item": to_item(model_record(entry)),
            "ConditionExpression": "#entry = :entry AND #status = :status",
            "ExpressionAttributeNames": {"#entry": "entry", "#status": "status"},
            "ExpressionAttributeValues": to_item({":entry": old["entry"], ":status": old["status"]}),
        }
        return self._write_with_views(entry, {"Put": put})

    def _write_with_views(self, entry: Mapping[str, Any], write: Mapping[str, Any]) -> list[str]:
        """A model's write (giving it `entry`) and the rebuilt views of the groups naming it, in one transaction."""
        naming = self._groups_naming(entry["id"])
        catalog = self.catalog_entries({i for members in naming.values() for i in members})
        catalog[entry["id"]] = dict(entry)
        actions: list[Any] = [write]
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
            "Key": item_key(layout.model_key(model_id)),
            "ConditionExpression": "attribute_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": layout.PK},
        }
        actions: list[Any] = [{"Delete": delete}]
        for name in naming:
            fresh = self.group_models(name) or []
            actions.extend(self.group_actions(name, [i for i in fresh if i != model_id], catalog))
        self.transact(actions)
        return list(naming)
