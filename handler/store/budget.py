"""How long one call to DynamoDB (or Secrets Manager) may take: the client's timeouts and its one quick retry.

botocore's own retries are off. Their backoff differs by version (the Lambda runtime brings its own botocore, and
older ones wait up to 1 s before a retry), and they retry timeouts, which spends a hung store's time twice.
Instead QuickRetry asks once more, after at most RETRY_DELAY, when the failure is one a second attempt may cure (a
throttle, a server error, a dropped or refused connection: a keep-alive connection that died while Lambda froze
the container is the common case), and only when that whole attempt still ends within CALL_BUDGET. A timeout
never fits, so a hung store costs one attempt; after it the circuit asks nothing for a while
(handler/store/circuit.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError

# DynamoDB answers in milliseconds; a new connection's TCP and TLS handshakes take tens of them in-region. A read
# timeout counts from the last byte received, so a large page still streams.
CONNECT_TIMEOUT = 0.2
READ_TIMEOUT = 0.5
RETRY_DELAY = 0.05  # at most; jittered
ATTEMPTS = 2
# The longest a call may take: one attempt timing out, or a failure within its first 0.15 s and the retry. An
# uncached caller's 503 comes within this (one failed call opens the circuit), inside the stack's 1 s p99 alarm.
CALL_BUDGET = 0.9
CLIENT_CONFIG: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT,
    "read_timeout": READ_TIMEOUT,
    "retries": {"total_max_attempts": 1, "mode": "standard"},  # QuickRetry decides
}
THROTTLES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
_STARTED = "modelgate_started"


class QuickRetry:
    """botocore's `needs-retry` rule for one client: None for no retry, else the delay before it."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, jitter: Callable[[], float] = random.random
    ) -> None:
        self._clock = clock
        self._jitter = jitter

    def install(self, client: Any) -> None:
        events = client.meta.events
        service = client.meta.service_model.service_id.hyphenize()
        events.register(f"before-call.{service}", self.started)
        events.register(f"needs-retry.{service}", self.needs_retry)

    def started(self, params: dict[str, Any], **_: Any) -> None:
        params["context"][_STARTED] = self._clock()

    def may_retry(self, elapsed: float, attempts: int) -> bool:
        """Whether another attempt may go out `elapsed` seconds into a call that made `attempts` already."""
        return attempts < ATTEMPTS and elapsed + RETRY_DELAY + CONNECT_TIMEOUT + READ_TIMEOUT <= CALL_BUDGET

    def needs_retry(
        self,
        attempts: int,
        request_dict: dict[str, Any],
        response: tuple[Any, dict[str, Any]] | None = None,
        caught_exception: Exception | None = None,
        **_: Any,
    ) -> float | None:
        if not _curable(response, caught_exception):
            return None
        elapsed = self._clock() - request_dict["context"].get(_STARTED, self._clock())
        if not self.may_retry(elapsed, attempts):
            return None
        return self._jitter() * RETRY_DELAY


def _curable(response: tuple[Any, dict[str, Any]] | None, caught: Exception | None) -> bool:
    if caught is not None:
        return isinstance(caught, BotoConnectionError | HTTPClientError)
    if response is None:
        return False
    http, parsed = response
    code = parsed.get("Error", {}).get("Code")
    return code in THROTTLES or http.status_code >= 500
