"""What every dialect provides, and the dialect-free error value the web layer hands it to render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from starlette.datastructures import QueryParams

from handler.core.errors import Refusal
from handler.core.listing import Document, Listing
from handler.core.records import Member


@dataclass(frozen=True, slots=True)
class Problem:
    """An error as OpenAI would answer it (status, message, type, param, code); each dialect renders it in its own
    shape, and may answer another status where its API does (Gemini: a bad key is a 400)."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    refusal: Refusal | None = None  # set when a credential was refused, and why
    headers: Mapping[str, str] | None = None


class BadRequest(Exception):
    """A paging parameter the dialect cannot use: a bad limit, an unknown cursor, a tampered or stale page token."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class Dialect(Protocol):
    """One API family's way of answering: a model, a page of the caller's list, an error."""

    @property
    def name(self) -> str:
        """Names its bytes in a Listing."""
        ...

    def model(self, member: Member) -> bytes:
        """One model object, serialized (once per listing)."""
        ...

    def page(self, listing: Listing, query: QueryParams) -> Document:
        """The list answer for these paging parameters, joined from the listing's bytes; BadRequest when unusable."""
        ...

    def candidates(self, model_id: str) -> tuple[str, ...]:
        """The ids a retrieve path may mean, in the order they are tried."""
        ...

    def error(self, problem: Problem, request_id: str | None) -> tuple[int, bytes]:
        """The status and body of `problem` in this dialect's shape."""
        ...
