"""Model objects: the documented shape, stable defaults, stored values as stored, disabled models nowhere."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from starlette.datastructures import QueryParams

from handler.core.catalog import model_object, permission_id
from handler.core.listing import Document, Listing, visible_members
from handler.core.records import GroupView, Member
from handler.store.dynamodb import DynamoDirectory
from handler.web.dialects.openai import DIALECT as OPENAI
from infra.registry import Registry
from tests.support import expected, world

MODEL_FIELDS = ["id", "object", "created", "owned_by", "permission", "root", "parent"]
PERMISSION_FIELDS = [
    "id",
    "object",
    "created",
    "allow_create_engine",
    "allow_sampling",
    "allow_logprobs",
    "allow_search_indices",
    "allow_view",
    "allow_fine_tuning",
    "organization",
    "group",
    "is_blocking",
]


def _group(*members: tuple[str, dict[str, Any] | None], version: str = "v1") -> GroupView:
    return GroupView("g", version, tuple(Member(model_id, entry) for model_id, entry in members))


def openai_list(listing: Listing) -> Document:
    """The OpenAI dialect's whole-list answer (it has no paging parameters)."""
    return OPENAI.page(listing, QueryParams())


def _listed(view: GroupView, token_models: tuple[str, ...] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(openai_list(Listing(visible_members(view, token_models))).body)
    return body


# -- defaults ----------------------------------------------------------------------------------------------------


def test_a_model_the_catalog_lacks_gets_every_documented_default() -> None:
    """GIVEN a model id with no catalog entry WHEN rendered
    THEN the documented object with `owned_by: custom`, created 1626777600 and the default permission."""
    assert model_object("my-custom", None) == {
        "id": "my-custom",
        "object": "model",
        "created": 1626777600,
        "owned_by": "custom",
        "permission": [
            {
                "id": "modelperm-Kg6i9CgWdjAjZUd6qZd76W8b",
                "object": "model_permission",
                "created": 1626777600,
                "allow_create_engine": True,
                "allow_sampling": True,
                "allow_logprobs": True,
                "allow_search_indices": False,
                "allow_view": True,
                "allow_fine_tuning": False,
                "organization": "*",
                "group": None,
                "is_blocking": False,
            }
        ],
        "root": "my-custom",
        "parent": None,
    }


def test_fields_come_in_the_documented_order() -> None:
    """GIVEN a default model and a listing WHEN serialized THEN keys are in the API doc's order."""
    raw = openai_list(Listing([Member("my-custom", None)])).body
    assert raw.startswith(b'{"object":"list","data":[{"id":"my-custom","object":"model","created":1626777600,')
    obj = json.loads(raw)["data"][0]
    assert list(obj) == MODEL_FIELDS
    assert list(obj["permission"][0]) == PERMISSION_FIELDS


def test_the_default_permission_id_is_stable_and_distinct_per_model() -> None:
    """GIVEN two ids WHEN their permission ids are derived repeatedly
    THEN `modelperm-` + 24 base62 characters, the same every time (golden values pin it across instances
    and releases), and different for different models."""
    assert permission_id("my-custom") == "modelperm-Kg6i9CgWdjAjZUd6qZd76W8b"
    assert permission_id("gpt-4o-mini") == "modelperm-noPrtVBqJpauMsv5TO4Qe1k9"
    assert re.fullmatch(r"modelperm-[0-9A-Za-z]{24}", permission_id("meta-llama/Llama-3.1-8B-Instruct"))
    assert len({permission_id(i) for i in expected.ALL_IDS}) == len(expected.ALL_IDS)


def test_rendering_twice_gives_identical_bytes() -> None:
    """GIVEN the same group rendered by two independent Listings (two Lambda instances)
    THEN the bytes and the ETag are identical: no random or time-based field."""
    view = _group(("gpt-4o", {"owned_by": "openai"}), ("my-custom", None))
    first, second = (openai_list(Listing(visible_members(view, None))) for _ in range(2))
    assert first.body == second.body
    assert first.etag == second.etag


# -- stored values -----------------------------------------------------------------------------------------------


def test_stored_values_are_returned_as_stored() -> None:
    """GIVEN the catalog entry of davinci from OpenAI's own dump (permission keys in alphabetical order)
    WHEN rendered THEN created, owned_by, permission, root and parent are exactly the stored ones."""
    stored = expected.CATALOG["davinci"]
    obj = model_object("davinci", {k: v for k, v in stored.items() if k != "id"})
    assert obj == {
        "id": "davinci",
        "object": "model",
        "created": 1649359874,
        "owned_by": "openai",
        "permission": [world.DAVINCI_PERMISSION],
        "root": "davinci",
        "parent": None,
    }
    assert list(obj["permission"][0]) == list(world.DAVINCI_PERMISSION)


@pytest.mark.parametrize(
    ("stored", "field", "value"),
    [
        ({"permission": None}, "permission", None),
        ({"permission": []}, "permission", []),
        ({"root": None}, "root", None),
        ({"root": "gpt-3.5-turbo", "parent": "gpt-3.5-turbo"}, "parent", "gpt-3.5-turbo"),
        ({"created": 0}, "created", 0),
        ({"owned_by": "acme"}, "owned_by", "acme"),
    ],
    ids=["null-permission", "empty-permission", "null-root", "parent", "created-zero", "custom-owner"],
)
def test_falsy_and_custom_stored_values_are_not_replaced_by_defaults(
    stored: dict[str, Any], field: str, value: Any
) -> None:
    """GIVEN a catalog entry storing null, [], 0 or a custom owner WHEN rendered THEN that value, not a default."""
    assert model_object("m", stored)[field] == value


def test_a_catalog_entry_without_owner_is_custom() -> None:
    """GIVEN a catalog entry with only an id (`bare`) WHEN rendered THEN owned_by custom and the other defaults."""
    assert model_object("bare", {"status": "enabled"}) == expected.model("bare")
    assert expected.model("bare")["owned_by"] == "custom"


# -- disabled models and order ----------------------------------------------------------------------------------


def test_a_disabled_model_is_listed_nowhere() -> None:
    """GIVEN a group and a token that both name a disabled catalog model
    WHEN listed or retrieved THEN it is absent from the list and retrieving it finds nothing."""
    view = _group(("gpt-4o", {"owned_by": "openai"}), ("old-model", {"owned_by": "openai", "status": "disabled"}))
    for token_models in (None, ("old-model", "gpt-4o")):
        listing = Listing(visible_members(view, token_models))
        assert [m["id"] for m in json.loads(openai_list(listing).body)["data"]] == ["gpt-4o"]
        assert listing.position("old-model") is None


def test_order_is_the_groups_never_sorted() -> None:
    """GIVEN a group in non-alphabetical order WHEN listed THEN the group's order, exactly."""
    view = _group(("zeta", None), ("alpha", None), ("mid", {"owned_by": "x"}))
    assert [m["id"] for m in _listed(view)["data"]] == ["zeta", "alpha", "mid"]


def test_a_token_list_orders_the_answer() -> None:
    """GIVEN a token listing models in its own order WHEN listed THEN the token's order."""
    view = _group(("zeta", None), ("alpha", None), ("mid", None))
    assert [m["id"] for m in _listed(view, ("mid", "zeta"))["data"]] == ["mid", "zeta"]


def test_retrieving_one_model_gives_the_same_object_as_the_list() -> None:
    """GIVEN a listing WHEN one model is retrieved THEN its bytes decode to the list's object for it."""
    view = _group(("gpt-4o", {"owned_by": "openai", "created": 1715367049}), ("my-custom", None))
    listing = Listing(visible_members(view, None))
    position = listing.position("gpt-4o")
    assert position is not None
    assert (
        json.loads(listing.models(OPENAI.name, OPENAI.model)[position])
        == json.loads(openai_list(listing).body)["data"][0]
    )


# -- through the table -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", sorted(world.GROUPS))
def test_the_world_catalog_survives_the_table_exactly(seeded: Registry, group: str) -> None:
    """GIVEN the world seed applied to DynamoDB (moto) WHEN a group view is read back and rendered
    THEN every object equals the one built from world.CATALOG and the documented defaults, in group order,
    with the stored permission's key order intact."""
    view = DynamoDirectory(seeded.client, seeded.table).group(group)
    assert view is not None
    body = json.loads(openai_list(Listing(visible_members(view, None))).body)
    visible = [i for i in world.GROUPS[group] if i != "old-model"]
    assert body == {"object": "list", "data": [expected.model(i) for i in visible]}
    for obj in body["data"]:
        if obj["id"] == "davinci":
            assert list(obj["permission"][0]) == list(world.DAVINCI_PERMISSION)
