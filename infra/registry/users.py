"""Users: who holds keys, which group they belong to, whether they are enabled."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from handler.store import layout
from infra.registry.reads import Reads
from infra.registry.records import ENABLED, item_key, new_incarnation, record_key, same_incarnation, to_item
from infra.registry.writes import Refused


class Users(Reads):
    def _user_update(
        self, user_id: str, group: str, status: str, origin: str | None = None, incarnation: str | None = None
    ) -> dict[str, Any]:
        """`origin` marks who keeps the user in step (`migrate`); None leaves the mark as it is. `incarnation` is
        the life a new user starts (a fresh one when None); an existing user keeps theirs."""
        return {
            "TableName": self.table,
            "Key": item_key(layout.user_key(user_id)),
            "UpdateExpression": (
                "SET #g = :g, #s = :s, user_id = :id, gsi1pk = :lp, gsi1sk = :id, "
                "created_at = if_not_exists(created_at, :now), incarnation = if_not_exists(incarnation, :inc)"
                + (", origin = :o" if origin else "")
            ),
            "ExpressionAttributeNames": {"#g": "group", "#s": "status"},
            "ExpressionAttributeValues": to_item(
                {
                    ":g": group,
                    ":s": status,
                    ":id": user_id,
                    ":lp": layout.LISTS[layout.USER],
                    ":now": Decimal(int(time.time())),
                    ":inc": incarnation or new_incarnation(),
                    ":o": origin,
                }
            ),
        }

    def put_user(
        self,
        user_id: str,
        group: str,
        status: str = ENABLED,
        *,
        origin: str | None = None,
        incarnation: str | None = None,
    ) -> None:
        """Create or update a user (apply's way: the seed is the truth). With `incarnation`, the user as read
        before: a Conflict if it was deleted meanwhile, or re-created as another life."""
        update = self._user_update(user_id, group, status, origin, incarnation)
        if incarnation is not None:
            update["ConditionExpression"] = (
                "attribute_exists(pk) AND (attribute_not_exists(incarnation) OR incarnation = :inc)"
            )
        self.transact([{"Update": update}])

    def put_new_users(self, users: Sequence[Mapping[str, Any]], *, origin: str | None = None) -> None:
        """Write users the table does not hold yet (a seed's: id, group, status, and the incarnation the plan gave
        them, else a new one), 25 a batch: the items put_user writes, at a twenty-fifth of the requests."""
        now = int(time.time())
        records = [
            {
                **layout.user_key(user["id"]),
                "user_id": user["id"],
                "group": user["group"],
                "status": user.get("status") or ENABLED,
                layout.GSI1_PK: layout.LISTS[layout.USER],
                layout.GSI1_SK: user["id"],
                "created_at": now,
                "incarnation": user.get("incarnation") or new_incarnation(),
                "origin": origin,
            }
            for user in users
        ]
        self.batch_write([{"PutRequest": {"Item": to_item(record)}} for record in records])

    def _require_group(self, name: str) -> None:
        if self.get(layout.group_key(name)) is None:
            raise Refused(f"unknown group {name!r}")

    def user(self, user_id: str) -> dict[str, Any]:
        record = self.get(layout.user_key(user_id))
        if record is None:
            raise Refused(f"unknown user {user_id!r}")
        return record

    def create_user(self, user_id: str, group: str) -> list[str]:
        """A new enabled user, refused for an existing id or an unknown group. Keys a former user of that id left
        (written beside its deletion by an older version) can never work for the new one; they are deleted in the
        same transaction, and their ids returned."""
        if self.get(layout.user_key(user_id)) is not None:
            raise Refused(f"user {user_id!r} already exists")
        self._require_group(group)
        leftover = [self._token_item(t.token_id) for t in self.tokens(user_id)]
        update = self._user_update(user_id, group, ENABLED)
        update["ConditionExpression"] = "attribute_not_exists(pk)"
        self.transact(
            [
                self.exists_check(layout.group_key(group)),
                {"Update": update},
                *({"Delete": {"TableName": self.table, "Key": item_key(record_key(t))}} for t in leftover),
            ]
        )
        return [t["token_id"] for t in leftover]

    def update_user(self, user_id: str, *, group: str | None = None, status: str | None = None) -> None:
        """Move a user to another group, or enable or disable them. Nothing is written when they already are so."""
        record = self.user(user_id)
        if (group is None or record.get("group") == group) and (status is None or record.get("status") == status):
            return
        sets: dict[str, Any] = {}
        actions: list[Any] = []
        if group is not None:
            self._require_group(group)
            sets["group"] = group
            actions.append(self.exists_check(layout.group_key(group)))
        if status is not None:
            sets["status"] = status
        actions.append({"Update": self.update_action(layout.user_key(user_id), sets, "attribute_exists(#pk)")})
        self.transact(actions)

    def delete_user(self, user_id: str) -> list[str]:
        """Drop a user and every key of theirs, in one transaction. The ids of the keys dropped.

        A concurrent `key create` for the user either commits first, and then this deletion cannot commit without
        it (each key made bumps the user's `keys_made`, which the deletion re-checks: a Conflict, and the command
        runs again, now seeing that key), or it commits after, and then finds no user and fails."""
        record = self.user(user_id)
        tokens = [self._token_item(t.token_id) for t in self.tokens(user_id)]
        life, values = same_incarnation(record)
        made = record.get("keys_made")
        condition = f"attribute_exists(pk) AND {life} AND " + (
            "attribute_not_exists(keys_made)" if made is None else "keys_made = :made"
        )
        if made is not None:
            values[":made"] = {"N": str(made)}
        delete: dict[str, Any] = {
            "TableName": self.table,
            "Key": item_key(layout.user_key(user_id)),
            "ConditionExpression": condition,
        }
        if values:
            delete["ExpressionAttributeValues"] = values
        actions: list[Any] = [
            {"Delete": delete},
            *({"Delete": {"TableName": self.table, "Key": item_key(record_key(t))}} for t in tokens),
        ]
        self.transact(actions)
        return [t["token_id"] for t in tokens]
