"""OpenAI's dialect: `/v1/models` exactly as documented, the whole list in one page, and OpenAI's error shape.

With OPENAI_LIST_METADATA on (WITH_METADATA), each model the catalog describes also carries the fields clients read
from OpenAI-shaped lists: `name` (Open WebUI's label) and `display_name` (Claude Code's), `description`,
`context_length` (OpenRouter's) and `max_output_tokens`, after the documented fields; a field without a value is
left out. Both forms are named `openai`: one deployment serves one of them, and its listings are its own.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams

from handler.core import metadata
from handler.core.catalog import model_object
from handler.core.listing import Document, Listing, to_json
from handler.core.records import Member
from handler.web.dialects.base import Problem

WHOLE_LIST = ("openai",)
# (catalog field, model object field), in the order they are added.
LIST_METADATA = (
    ("display_name", "name"),
    ("display_name", "display_name"),
    ("description", "description"),
    ("max_input_tokens", "context_length"),
    ("max_tokens", "max_output_tokens"),
)


def described(member: Member) -> dict[str, Any]:
    """The documented object, then the catalog's metadata under the names OpenAI-shaped clients read."""
    document = model_object(member.model_id, member.catalog)
    served = metadata.served(member.catalog)
    for stored, name in LIST_METADATA:
        if stored in served:
            document[name] = served[stored]
    return document


class OpenAI:
    name = "openai"

    def __init__(self, *, with_metadata: bool = False) -> None:
        self.with_metadata = with_metadata

    def model(self, member: Member) -> bytes:
        if self.with_metadata:
            return to_json(described(member))
        return to_json(model_object(member.model_id, member.catalog))

    def page(self, listing: Listing, query: QueryParams) -> Document:
        """Every model at once: OpenAI's list has no paging parameters."""
        return listing.page(
            WHOLE_LIST,
            lambda: b'{"object":"list","data":[' + b",".join(listing.models(self.name, self.model)) + b"]}",
        )

    def candidates(self, model_id: str) -> tuple[str, ...]:
        return (model_id,)

    def error(self, problem: Problem, request_id: str | None) -> tuple[int, bytes]:
        error = {"message": problem.message, "type": problem.type, "param": problem.param, "code": problem.code}
        return problem.status, to_json({"error": error})


DIALECT = OpenAI()
WITH_METADATA = OpenAI(with_metadata=True)
