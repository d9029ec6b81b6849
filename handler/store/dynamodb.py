"""The DynamoDB adapter: the core's Directory over one table. Every boto3 failure becomes StoreUnavailable here:
StoreOutage when DynamoDB itself failed, which the circuit (handler/store/circuit.py) backs off from."""

from __future__ import annotations

import ipaddress
import logging
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from handler.core.errors import StoreOutage, StoreUnavailable
from handler.core.records import GroupView, Member, Token, User
from handler.metrics import Metrics
from handler.store import layout

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Item = dict[str, AttributeValueTypeDef]
else:
    Item = dict[str, Any]

log = logging.getLogger("modelgate.store")
T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def _faults(what: str, metrics: Metrics) -> Iterator[None]:
    """Turn a store failure into StoreOutage, logging the error code and never the request. Counts the request
    (one per DynamoDB call; botocore's retries inside it are not seen). A cancelled transaction is no outage: a
    CLI write was committing on the same item."""
    try:
        yield
    except ClientError as error:
        metrics.dynamodb_request(failed=True)
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        log.warning("dynamodb %s failed", what, extra={"error_code": code})
        if code == "TransactionCanceledException":
            raise StoreUnavailable(code) from None
        raise StoreOutage(code) from None
    except BotoCoreError as error:
        metrics.dynamodb_request(failed=True)
        log.warning("dynamodb %s failed", what, extra={"error_code": type(error).__name__})
        raise StoreOutage(type(error).__name__) from None
    metrics.dynamodb_request()


def _decode(what: str, raw: R, build: Callable[[R], T]) -> T:
    try:
        return build(raw)
    except (KeyError, TypeError, ValueError, zlib.error) as error:
        log.error("malformed %s record", what, extra={"error_code": type(error).__name__})
        raise StoreUnavailable(f"malformed {what} record") from None


def _optional_number(item: Item, name: str) -> float | None:
    value = item.get(name)
    if value is None or "NULL" in value:
        return None
    return float(value["N"])


def _strings(item: Item, name: str) -> tuple[str, ...] | None:
    value = item.get(name)
    return None if value is None or "NULL" in value else tuple(v["S"] for v in value["L"])


def _token(item: Item) -> Token:
    networks = _strings(item, "allow_ips")
    return Token(
        token_id=item["token_id"]["S"],
        user_id=item["user_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        models=_strings(item, "models"),
        status=item["status"]["S"],
        expires_at=_optional_number(item, "expires_at"),
        networks=None if networks is None else tuple(ipaddress.ip_network(n, strict=False) for n in networks),
        group=item.get("group", {}).get("S") or None,
        user_incarnation=item.get("user_incarnation", {}).get("S"),
        created_at=_optional_number(item, "created_at") or 0.0,
    )


def _user(item: Item) -> User:
    return User(
        user_id=item["user_id"]["S"],
        group=item["group"]["S"],
        enabled=item["status"]["S"] == "enabled",
        sessions_valid_after=_optional_number(item, "sessions_valid_after") or 0.0,
        incarnation=item.get("incarnation", {}).get("S"),
        created_at=_optional_number(item, "created_at") or 0.0,
    )


def _view(name: str, known: GroupView | None) -> Callable[[list[Item]], GroupView | None]:
    def build(items: list[Item]) -> GroupView | None:
        versions = {item["version"]["S"] for item in items}
        if len(versions) != 1 or len(items) != int(items[0]["chunks"]["N"]):
            return None  # torn read: the CLI is rewriting this view
        version = versions.pop()
        if known is not None and known.version == version:
            return known  # the version names the content: unchanged, so not decoded again (~40 ms at 5,000 models)
        pairs = layout.decode_view([item["data"]["B"] for item in items])
        if not all(isinstance(entry, dict | None) for _, entry in pairs):
            raise TypeError("catalog entry")
        return GroupView(name, version, tuple(Member(model_id, entry) for model_id, entry in pairs))

    return build


def _key(key: Mapping[str, str]) -> Any:
    return {k: {"S": v} for k, v in key.items()}


class DynamoDirectory:
    """Reads with GetItem, BatchGetItem, TransactGetItems and Query, which is all the function's IAM role allows.

    Every read is strongly consistent: once a container has seen the change marker at some revision, what it
    reads next holds every write of that revision (the CLI bumps the marker in the write's own transaction).
    """

    def __init__(self, client: DynamoDBClient, table: str, metrics: Metrics | None = None) -> None:
        self.client = client
        self.table = table
        self.metrics = metrics if metrics is not None else Metrics.off()
        self._views: dict[str, GroupView] = {}  # the last view read of each group

    def _get(self, what: str, key: dict[str, str]) -> Item | None:
        with _faults(what, self.metrics):
            response = self.client.get_item(TableName=self.table, Key=_key(key), ConsistentRead=True)
        return response.get("Item")

    def token(self, key_hash: str) -> Token | None:
        item = self._get("token", layout.token_key(key_hash))
        return None if item is None else _decode("token", item, _token)

    def tokens(self, key_hashes: Sequence[str]) -> Mapping[str, Token]:
        """One BatchGetItem (unprocessed keys asked once more): a one-api key in two forms costs one round trip."""
        wanted: list[Any] = [{k: {"S": v} for k, v in layout.token_key(h).items()} for h in dict.fromkeys(key_hashes)]
        found: dict[str, Token] = {}
        for _ in range(2):
            with _faults("token", self.metrics):
                response = self.client.batch_get_item(
                    RequestItems={self.table: {"Keys": wanted, "ConsistentRead": True}}
                )
            for item in response.get("Responses", {}).get(self.table, []):
                found[item[layout.PK]["S"].partition("#")[2]] = _decode("token", item, _token)
            unprocessed: Any = response.get("UnprocessedKeys") or {}
            wanted = list(unprocessed.get(self.table, {}).get("Keys", []))
            if not wanted:
                return found
        raise StoreOutage("token lookup throttled")

    def revision(self) -> layout.Marker:
        """The change marker: its revision and what the latest revisions changed, in one GetItem."""
        item = self._get("change marker", layout.changes_key())
        return _decode("change marker", item, layout.marker_of)

    def _with_revision(self, what: str, keys: Sequence[Mapping[str, str]]) -> tuple[list[Item | None], layout.Marker]:
        """These items and the change marker as of one instant, in one round trip. TransactGetItems, unlike
        BatchGetItem, never shows part of a write: no record older than the revision it comes with."""
        request: list[Any] = [
            {"Get": {"TableName": self.table, "Key": _key(key)}} for key in (layout.changes_key(), *keys)
        ]
        for attempt in (1, 2):
            with _faults(what, self.metrics):
                try:
                    response = self.client.transact_get_items(TransactItems=request)
                except ClientError as error:
                    # A CLI transaction was committing on one of these items: ask once more, then fail as any fault.
                    if attempt == 1 and error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                        continue
                    raise
            break
        items: list[Item | None] = [entry.get("Item") for entry in response.get("Responses", [])]
        if len(items) != len(request):
            raise StoreUnavailable(f"{what} read incomplete")
        return items[1:], _decode("change marker", items[0], layout.marker_of)

    def tokens_at_revision(self, key_hashes: Sequence[str]) -> tuple[Mapping[str, Token], layout.Marker]:
        """Tokens by hash (the absent ones left out) and the marker, in one TransactGetItems."""
        hashes = list(dict.fromkeys(key_hashes))
        items, marker = self._with_revision("token", [layout.token_key(h) for h in hashes])
        found = {h: _decode("token", item, _token) for h, item in zip(hashes, items, strict=True) if item is not None}
        return found, marker

    def user_at_revision(self, user_id: str) -> tuple[User | None, layout.Marker]:
        """A user and the marker, in one TransactGetItems."""
        [item], marker = self._with_revision("user", [layout.user_key(user_id)])
        return (None if item is None else _decode("user", item, _user)), marker

    def user(self, user_id: str) -> User | None:
        item = self._get("user", layout.user_key(user_id))
        return None if item is None else _decode("user", item, _user)

    def group(self, name: str) -> GroupView | None:
        for _ in range(2):
            items = self._view_items(name)
            if not items:
                self._views.pop(name, None)
                return None
            view = _decode("group view", items, _view(name, self._views.get(name)))
            if view is not None:
                self._views[name] = view
                return view
        raise StoreUnavailable("group view changed while being read")

    def _view_items(self, name: str) -> list[Item]:
        items: list[Item] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :view)",
            "ExpressionAttributeNames": {"#pk": layout.PK, "#sk": layout.SK},
            "ExpressionAttributeValues": {
                ":pk": {"S": layout.group_key(name)[layout.PK]},
                ":view": {"S": layout.VIEW_PREFIX},
            },
        }
        while True:  # one page holds about 1 MB of compressed view, i.e. tens of thousands of models
            with _faults("group view", self.metrics):
                page = self.client.query(**request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
