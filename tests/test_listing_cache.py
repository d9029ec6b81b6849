"""The listing cache under `serve`: the event loop and a worker thread render from one Listing at once, and the
cache of listings stays within its byte bound as listings grow."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from handler.core.access import ListingKey, ModelAccess
from handler.core.callers import Caller
from handler.core.listing import PAGES_KEPT, Document, Listing
from handler.core.records import GroupView, Member, Token, User
from handler.core.ttlcache import MISSING, TtlCache

THREADS = 4
PAGES_EACH = 30_000


@pytest.fixture
def tight_switching() -> Iterator[None]:
    """Threads switch every microsecond instead of every 5 ms, so a race shows within a few thousand calls."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def _render(member: Member) -> bytes:
    return member.model_id.encode()


def _hammer(listing: Listing, offset: int, errors: list[BaseException]) -> None:
    try:
        for number in range(PAGES_EACH):
            page = offset + number
            listing.page(("openai", page), lambda: b"x" * (page % 7 + 1))  # noqa: B023  # called at once
            listing.models(f"dialect-{page % 3}", _render)
    except BaseException as error:  # the race's error, reported by the test below
        errors.append(error)


def test_threads_paging_one_listing_never_fail_and_keep_its_weight(tight_switching: None) -> None:
    """GIVEN one cached Listing, as the loop and a worker thread share it under `serve`
    WHEN several threads page through it at once, each evicting the oldest kept page as it adds one
    THEN none fails (no "dictionary changed size during iteration", no KeyError), at most PAGES_KEPT pages are
    kept, and its weight is exactly the bytes it holds"""
    listing = Listing([Member(f"model-{n}", None) for n in range(5)])
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_hammer, args=(listing, n * PAGES_EACH, errors)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    models = sum(len(body) for dialect in range(3) for body in listing.models(f"dialect-{dialect}", _render))
    pages = list(listing._pages.values())
    assert len(pages) == PAGES_KEPT
    assert listing.weight() == models + sum(len(document.body) for document in pages)


class _Groups:
    """A Directory holding group views only: each caller below is in a group of its own."""

    def __init__(self, views: dict[str, GroupView]) -> None:
        self.views = views

    def group(self, name: str) -> GroupView | None:
        return self.views.get(name)

    def token(self, key_hash: str) -> Token | None:
        return None

    def tokens(self, key_hashes: object) -> dict[str, Token]:
        return {}

    def user(self, user_id: str) -> User | None:
        return None


def test_listings_that_grow_after_they_are_cached_are_evicted_past_the_byte_bound() -> None:
    """GIVEN a listing cache bounded at 10,000 bytes, and groups of 10 models of 100 bytes each as rendered
    WHEN 30 callers, each in a group of their own, list their models (each listing is cached empty, at weight 0,
    then grows by 1,000 bytes of rendered models and a 1,000-byte page)
    THEN the cache holds no more than the bound: the oldest listings are evicted, the newest kept"""
    views = {
        f"group-{n}": GroupView(f"group-{n}", "v1", tuple(Member(f"model-{m}", None) for m in range(10)))
        for n in range(30)
    }
    listings: TtlCache[ListingKey, Listing] = TtlCache(float("inf"), 1000, weigh=Listing.weight, max_weight=10_000)
    access = ModelAccess(_Groups(views), listings)

    def render(listing: Listing) -> Document:
        return listing.page("list", lambda: b"".join(listing.models("openai", lambda member: b"m" * 100)))

    for n in range(30):
        access.page(Caller(kind="key", group=f"group-{n}", models=None), render)

    assert len(listings) == 5  # 2,000 bytes each
    newest: ListingKey = ("group-29", "v1", None)
    oldest: ListingKey = ("group-0", "v1", None)
    assert listings.get(newest) is not MISSING
    assert listings.get(oldest) is MISSING
