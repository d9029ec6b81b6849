"""Keys (tokens): stored by the hash of the key, found by their public id, never shown whole."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from handler.core import keys
from handler.store import layout
from infra.registry.reads import Reads
from infra.registry.records import ENABLED, UNREAD, TokenRecord, item_key, record_key, same_incarnation, to_item
from infra.registry.writes import Refused

# Expired tokens stay listable for a while, then DynamoDB's TTL removes them.
PURGE_AFTER_EXPIRY_SECONDS = 30 * 86_400


def new_token_id() -> str:
    return "tok_" + secrets.token_hex(8)


class Keys(Reads):
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
        allow_ips: Sequence[str] | None = None,
        group: str | None = None,
        origin: str | None = None,
        user_incarnation: str | None = None,
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
        # The client networks it may be used from, a group replacing its owner's, and which life of its owner it
        # belongs to: absent when unset.
        for attribute, placeholder, value in (
            ("allow_ips", ":ips", allow_ips),
            ("#g", ":g", group),
            ("user_incarnation", ":inc", user_incarnation),
        ):
            if value is None:
                removes.append(attribute)
            else:
                sets.append(f"{attribute} = {placeholder}")
                values[placeholder] = list(value) if attribute == "allow_ips" else value
        if origin is not None:
            sets.append("origin = :o")
            values[":o"] = origin
        return {
            "TableName": self.table,
            "Key": item_key(layout.token_key(keys.key_hash(key))),
            "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ExpressionAttributeNames": {"#n": "name", "#s": "status", "#g": "group"},
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
        allow_ips: Sequence[str] | None = None,
        group: str | None = None,
        origin: str | None = None,
        user_incarnation: str | None = UNREAD,
    ) -> None:
        """Create or update the token of `key` (stored only as its hash; apply's way), for its user as the table
        holds them now (`user_incarnation`: as the caller read them, None for a user it did not find). An existing
        token keeps its public id. For an existing user the key is counted on them in the same transaction, as
        create_token does: a deletion of the user cannot commit past it (it retries and takes the key), and a
        deletion that came first makes this a Conflict instead of a key left behind."""
        if user_incarnation is UNREAD:
            owner = self.get(layout.user_key(user_id))
            user_incarnation = None if owner is None else owner.get("incarnation")
        else:
            owner = None if user_incarnation is None else {"incarnation": user_incarnation}
        update = self._token_update(
            key,
            user_id=user_id,
            name=name,
            models=models,
            status=status,
            expires_at=expires_at,
            token_id=token_id or new_token_id(),
            now=int(time.time()),
            allow_ips=allow_ips,
            group=group,
            origin=origin,
            user_incarnation=user_incarnation,
        )
        counted = [] if owner is None else [{"Update": self._count_key(user_id, owner)}]
        self.transact([*counted, {"Update": update}])

    def _count_key(self, user_id: str, owner: Mapping[str, Any], *, enabled: bool = False) -> dict[str, Any]:
        """The Update that counts one more key on its owner (`keys_made`, which delete_user re-checks), on the
        condition that the owner is still the life `owner` was read from (and still enabled, with `enabled`)."""
        life, values = same_incarnation(owner)
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": item_key(layout.user_key(user_id)),
            "UpdateExpression": "ADD keys_made :one",
            "ConditionExpression": f"attribute_exists(pk) AND {life}",
            "ExpressionAttributeValues": {**values, ":one": {"N": "1"}},
        }
        if enabled:
            update["ConditionExpression"] += " AND #s = :enabled"
            update["ExpressionAttributeNames"] = {"#s": "status"}
            update["ExpressionAttributeValues"][":enabled"] = {"S": ENABLED}
        return update

    def put_new_tokens(
        self,
        tokens: Sequence[Mapping[str, Any]],
        *,
        origin: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Write tokens the table does not hold yet (a seed's fields: key, user, name, models, status, expires_at,
        allow_ips, group, and the user's incarnation as the plan found it), 25 a batch: the same items as
        put_token, at a twenty-fifth of the requests."""
        now = int(time.time())
        requests = []
        for token in tokens:
            token_id = new_token_id()
            record: dict[str, Any] = {
                **layout.token_key(keys.key_hash(token["key"])),
                "user_id": token["user"],
                "name": token.get("name") or "",
                "status": token.get("status") or ENABLED,
                "token_id": token_id,
                layout.GSI1_PK: layout.LISTS[layout.TOKEN],
                layout.GSI1_SK: token_id,
                "key_hint": keys.mask(token["key"]),
                "created_at": now,
                "models": None if token.get("models") is None else list(token["models"]),
                "allow_ips": None if token.get("allow_ips") is None else list(token["allow_ips"]),
                "group": token.get("group"),
                "user_incarnation": token.get("user_incarnation"),
                "origin": origin,
            }
            expires_at = token.get("expires_at")
            if expires_at is not None:
                record["expires_at"] = Decimal(str(expires_at))
                record[layout.TTL_ATTRIBUTE] = int(expires_at) + PURGE_AFTER_EXPIRY_SECONDS
            requests.append({"PutRequest": {"Item": to_item(record)}})
        self.batch_write(requests, progress)

    def create_token(
        self,
        key: str,
        *,
        user_id: str,
        name: str = "",
        models: Sequence[str] | None = None,
        expires_at: float | None = None,
        allow_ips: Sequence[str] | None = None,
        group: str | None = None,
    ) -> TokenRecord:
        """A new enabled key of an enabled user, in one transaction that re-checks the user (and the token's group,
        when it names one) and counts the key on them, so that a deletion of the user cannot commit past it."""
        owner = self.user(user_id)
        if owner.get("status") != ENABLED:
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
            allow_ips=None if allow_ips is None else list(allow_ips),
            group=group,
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
            allow_ips=allow_ips,
            group=group,
            user_incarnation=owner.get("incarnation"),
        )
        update["ConditionExpression"] = "attribute_not_exists(pk)"
        counted = self._count_key(user_id, owner, enabled=True)
        checks = [self.exists_check(layout.group_key(group))] if group is not None else []
        self.transact([*checks, {"Update": counted}, {"Update": update}])
        return token

    def set_token_status(self, token_id: str, status: str) -> TokenRecord:
        """Enable or disable a key found by its public id (through gsi1) or the key, updated by its table key."""
        record = self._token_item(token_id)
        token_id = record["token_id"]
        if record["status"] == status:
            return TokenRecord.of(record)
        condition = "attribute_exists(#pk) AND #token_id = :token_id"
        update = self.update_action(record_key(record), {"status": status}, condition)
        update["ExpressionAttributeNames"]["#token_id"] = "token_id"
        update["ExpressionAttributeValues"][":token_id"] = {"S": token_id}
        self.transact([{"Update": update}])
        return TokenRecord.of({**record, "status": status})

    def delete_token(self, token_id: str) -> TokenRecord:
        record = self._token_item(token_id)
        token_id = record["token_id"]
        delete = {
            "TableName": self.table,
            "Key": item_key(record_key(record)),
            "ConditionExpression": "#token_id = :token_id",
            "ExpressionAttributeNames": {"#token_id": "token_id"},
            "ExpressionAttributeValues": {":token_id": {"S": token_id}},
        }
        self.transact([{"Delete": delete}])
        return TokenRecord.of(record)
