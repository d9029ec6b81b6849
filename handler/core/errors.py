"""Domain errors, free of any dialect: each web dialect (OpenAI, Anthropic, Gemini) renders them its own way."""

from __future__ import annotations

from typing import Literal

# missing: no credential (anonymous access off); invalid: a key we refuse; malformed: credentials we cannot read,
# such as two different keys at once.
Refusal = Literal["missing", "invalid", "malformed"]


class ModelgateError(Exception):
    """Base class of every error the core or a store raises on purpose."""


class NotAuthenticated(ModelgateError):
    """The caller presented no usable credential and anonymous access is off, or the credential is bad."""

    def __init__(self, message: str, *, code: str | None, reason: Refusal | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason: Refusal = reason or ("missing" if code is None else "invalid")


class AccessDenied(ModelgateError):
    """The credential is good but may not be used from here (an IP allow-list): 403, never a list."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ModelNotFound(ModelgateError):
    """The model does not exist, or this caller may not see it (the two are indistinguishable on purpose)."""

    def __init__(self, model_id: str) -> None:
        super().__init__(model_id)
        self.model_id = model_id


class StoreUnavailable(ModelgateError):
    """The store could not answer: throttled, down, timed out, or returned a record we cannot read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StoreOutage(StoreUnavailable):
    """The store itself failed (no answer in time, a refused or dropped connection, throttling, a server error), as
    opposed to answering with a record we cannot read: asking again at once would only wait again."""


class WouldBlock(Exception):  # a signal to move, not an error to render
    """A lookup needs the store, and was asked on an event loop, where a blocking read would stall every other
    request: ask again on a worker thread."""
