"""OpenAI's dialect: `/v1/models` exactly as documented, the whole list in one page, and OpenAI's error shape."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from handler.core.catalog import model_object
from handler.core.listing import Document, Listing, to_json
from handler.core.records import Member
from handler.web.dialects.base import Problem

WHOLE_LIST = ("openai",)


class OpenAI:
    name = "openai"

    def model(self, member: Member) -> bytes:
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
