"""The session secret from AWS Secrets Manager, fetched on the first session check rather than at cold start."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler.core.errors import StoreUnavailable
from handler.core.sessions import Session, SessionSigner, WeakSecret
from handler.store.circuit import refuse_on_event_loop

log = logging.getLogger("modelgate.secrets")

# A rotated secret reaches every warm container within this long.
REFRESH_SECONDS = 300.0
# After a failed refresh, keep the secret we have and try again this much later, not on every call.
RETRY_SECONDS = 30.0


class SecretsManagerVerifier:
    """Key callers never pay for the fetch, nor for the client: `connect` makes it on the first session check (a
    client costs about as much init as the DynamoDB one). A container re-reads the secret every REFRESH_SECONDS."""

    def __init__(
        self,
        connect: Callable[[], Any],
        secret_arn: str,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        refuse_on_loop: bool = True,
    ) -> None:
        self._connect = connect
        self._refuse_on_loop = refuse_on_loop  # as the circuit's (handler/store/circuit.py)
        self._client: Any = None
        self._secret_arn = secret_arn
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._signer: SessionSigner | None = None
        self._next_fetch = 0.0

    def _fetch(self) -> SessionSigner:
        if self._refuse_on_loop:
            refuse_on_event_loop("session secret")
        if self._client is None:
            self._client = self._connect()
        try:
            return SessionSigner(self._client.get_secret_value(SecretId=self._secret_arn)["SecretString"])
        except (ClientError, BotoCoreError, KeyError) as error:
            log.warning("session secret unavailable", extra={"error_code": type(error).__name__})
            raise StoreUnavailable("session secret unavailable") from None
        except WeakSecret:
            log.error("the session secret in Secrets Manager is too short; sessions are refused")
            raise StoreUnavailable("session secret unusable") from None

    def verify(self, value: str, *, now: float) -> Session | None:
        moment = self._clock()
        if self._signer is None or moment >= self._next_fetch:
            try:
                self._signer = self._fetch()
                self._next_fetch = moment + self._refresh_seconds
            except StoreUnavailable:
                if self._signer is None:
                    raise
                self._next_fetch = moment + RETRY_SECONDS  # the secret we have is still the best we know
        return self._signer.verify(value, now=now)
