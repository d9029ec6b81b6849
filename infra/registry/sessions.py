"""Login sessions: the user's cut-off, before which every session they hold is refused."""

from __future__ import annotations

from handler.store import layout
from infra.registry.reads import Reads
from infra.registry.records import item_key


class Sessions(Reads):
    def revoke_sessions(self, user_id: str, *, now: float) -> None:
        """Refuse every session of the user issued before now (sessions carry whole seconds)."""
        update = {
            "TableName": self.table,
            "Key": item_key(layout.user_key(user_id)),
            "UpdateExpression": "SET sessions_valid_after = :t",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":t": {"N": str(int(now) + 1)}},
        }
        self.transact([{"Update": update}])
