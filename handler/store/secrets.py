"""The session secret from AWS Secrets Manager, fetched on the first session check rather than at cold start."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler.core.errors import StoreUnavailable
from handler.core.sessions import Session, SessionSigner, WeakSecret

log = logging.getLogger("modelgate.secrets")


class SecretsManagerVerifier:
    """Key callers never pay for the fetch; a container fetches once. Rotation reaches containers as they recycle."""

    def __init__(self, client: Any, secret_arn: str) -> None:
        self._client = client
        self._secret_arn = secret_arn
        self._signer: SessionSigner | None = None

    def verify(self, value: str, *, now: float) -> Session | None:
        if self._signer is None:
            try:
                secret = self._client.get_secret_value(SecretId=self._secret_arn)["SecretString"]
                self._signer = SessionSigner(secret)
            except (ClientError, BotoCoreError, KeyError) as error:
                log.warning("session secret unavailable", extra={"error_code": type(error).__name__})
                raise StoreUnavailable("session secret unavailable") from None
            except WeakSecret:
                log.error("the session secret in Secrets Manager is too short; sessions are refused")
                raise StoreUnavailable("session secret unusable") from None
        return self._signer.verify(value, now=now)
