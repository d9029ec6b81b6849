"""DynamoDB requests counted at the wire: botocore's `before-send` fires once per HTTP attempt, retries included."""

from __future__ import annotations

from collections import Counter
from typing import Any


class RequestCounter:
    """Counts the requests one client sends, by operation. Registered on the most specific event name, so it runs
    before any handler that answers in botocore's place (moto's in-process mock)."""

    def __init__(self, client: Any) -> None:
        self.operations: Counter[str] = Counter()
        self.sequence: list[str] = []
        client.meta.events.register_first("before-send.dynamodb", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        self.operations[operation] += 1
        self.sequence.append(operation)

    @property
    def total(self) -> int:
        return len(self.sequence)

    def reset(self) -> None:
        self.operations.clear()
        self.sequence.clear()
