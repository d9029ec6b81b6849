"""Scale: what a listing costs grows at most linearly with the group, and a big group's view stays one Query page.

Deterministic figures only (bytes, tracemalloc), never time: `infra/dev bench` times the same path. A group of
1,000 and one of 5,000 models from the same synthetic catalog go the way the function takes them: the view's
compressed chunks are decoded, the visible members picked, the listing rendered (and gzipped once).
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
from starlette.datastructures import QueryParams

from handler.core.listing import Document, Listing, visible_members
from handler.core.records import GroupView, Member
from handler.store import layout
from handler.web.dialects.openai import DIALECT as OPENAI
from infra.bench.world import synthetic_catalog

SMALL, BIG = 1_000, 5_000
QUERY_PAGE_BYTES = 1024 * 1024
ITEM_LIMIT_BYTES = 400 * 1024
# Linear with a margin for fixed costs and allocator slack; quadratic growth would be 25x, not 5x.
GROWTH_BOUND = (BIG / SMALL) * 1.3


def view_chunks(count: int) -> tuple[str, list[bytes]]:
    """The view the CLI writes for a group of the first `count` catalog models (entries without their id)."""
    members = [(entry["id"], {k: v for k, v in entry.items() if k != "id"}) for entry in synthetic_catalog(count)]
    return layout.encode_view(members)


def whole(listing: Listing) -> Document:
    """The OpenAI list of the listing (rendered once, then kept by the listing)."""
    return OPENAI.page(listing, QueryParams())


def serve_listing(chunks: list[bytes]) -> Listing:
    """What a cold call does with the view: decode it, pick the visible members, render the bytes and gzip them."""
    members = tuple(Member(model_id, entry) for model_id, entry in layout.decode_view(chunks))
    listing = Listing(visible_members(GroupView("bench", "v1", members), None))
    whole(listing).gzipped()
    return listing


def traced(count: int) -> tuple[Listing, int, int]:
    """The listing, the peak bytes allocated while making it, and the bytes it still holds."""
    _, chunks = view_chunks(count)
    tracemalloc.start()
    try:
        listing = serve_listing(chunks)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return listing, peak, held


@pytest.fixture(scope="module")
def measured() -> dict[int, tuple[Listing, int, int]]:
    return {count: traced(count) for count in (SMALL, BIG)}


def test_the_body_grows_linearly_with_the_group(measured: dict[int, Any]) -> None:
    """GIVEN 1,000 and 5,000 models WHEN rendered THEN the same bytes per model, identity and gzip alike."""
    small, big = measured[SMALL][0], measured[BIG][0]

    assert (len(small), len(big)) == (SMALL, BIG)
    assert len(whole(big).body) / BIG == pytest.approx(len(whole(small).body) / SMALL, rel=0.02)
    assert len(whole(big).gzipped()) / BIG <= 1.1 * len(whole(small).gzipped()) / SMALL


def test_memory_grows_at_most_linearly_with_the_group(measured: dict[int, Any]) -> None:
    """GIVEN 1,000 and 5,000 models WHEN a cold call decodes and renders them THEN both the peak and the memory the
    cached listing keeps grow no faster than the group (5x, with a margin)."""
    _, small_peak, small_held = measured[SMALL]
    _, big_peak, big_held = measured[BIG]

    assert big_peak <= GROWTH_BOUND * small_peak
    assert big_held <= GROWTH_BOUND * small_held


@pytest.mark.parametrize("count", [BIG, 10_000])
def test_a_big_group_view_is_one_query_page_of_items_under_400kb(count: int) -> None:
    """GIVEN a group of 5,000 (or all 10,000) catalog models WHEN the CLI encodes its view THEN every chunk fits in
    a DynamoDB item and all of them in one 1 MB Query page, so a cold call stays at three requests."""
    version, chunks = view_chunks(count)

    assert all(len(chunk) <= layout.VIEW_CHUNK_BYTES < ITEM_LIMIT_BYTES for chunk in chunks)
    assert sum(len(chunk) for chunk in chunks) < QUERY_PAGE_BYTES
    assert len(serve_listing(chunks)) == count
    assert version == view_chunks(count)[0]  # the version names the content: the same view, the same version
