"""Groups and their views: a group's ordered models, and the view the function reads of it.

A view is the group's models joined with their catalog entries. It is written in the same transaction as the
group, and rebuilt whenever a catalog model it names changes. A view already current is not rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from handler.store import layout
from infra.registry.reads import Reads
from infra.registry.records import UNREAD, item_key, to_item, view_key, view_members
from infra.registry.writes import Refused


class Groups(Reads):
    def group_actions(
        self,
        name: str,
        model_ids: Sequence[str] | None,
        catalog: Mapping[str, Mapping[str, Any]],
        previous: Mapping[str, Any] | None = UNREAD,
        origin: str | None = None,
    ) -> list[Any]:
        """The transaction items that write a group and its view (None: the models it has now), and drop its stale
        chunks; none when the group already is exactly so. The Put holds only if the group is still as `previous`
        (the record the change was computed from; read here when not given). `origin` marks who keeps it in step
        (`migrate`); None keeps the mark it has."""
        if previous is UNREAD:
            previous = self.get(layout.group_key(name))
        if model_ids is None:
            if previous is None:
                raise Refused(f"unknown group {name!r}")
            model_ids = list(previous.get("models") or [])
        version, chunks = layout.encode_view(view_members(model_ids, catalog))
        origin = origin if origin is not None else (previous or {}).get("origin")
        if (
            previous
            and previous.get("view_version") == version
            and previous.get("models") == list(model_ids)
            and previous.get("origin") == origin
        ):
            return []
        group = {
            **layout.group_key(name),
            layout.GSI1_PK: layout.LISTS[layout.GROUP],
            layout.GSI1_SK: name,
            "name": name,
            "models": list(model_ids),
            "view_version": version,
            "view_chunks": len(chunks),
            "origin": origin,
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
            actions.append({"Delete": {"TableName": self.table, "Key": item_key(view_key(pk, index))}})
        return actions

    def put_group(
        self,
        name: str,
        model_ids: Sequence[str] | None,
        catalog: Mapping[str, Mapping[str, Any]] | None = None,
        previous: Mapping[str, Any] | None = UNREAD,
        origin: str | None = None,
    ) -> bool:
        """Write a group (None: keep its models) with a fresh view, in one transaction. False if already so."""
        if catalog is None:
            catalog = self.catalog_entries(model_ids if model_ids is not None else self.group_models(name) or [])
        actions = self.group_actions(name, model_ids, catalog, previous, origin)
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
            "Key": item_key(layout.group_key(name)),
            "ConditionExpression": "#v = :v",
            "ExpressionAttributeNames": {"#v": "view_version"},
            "ExpressionAttributeValues": {":v": {"S": str(previous.get("view_version", ""))}},
        }
        chunks = [
            {"Delete": {"TableName": self.table, "Key": item_key(view_key(pk, i))}}
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
