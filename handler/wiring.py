"""The composition root: settings in, a ready Service out. The only module that knows every part."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

from handler.core.access import ListingKey, ModelAccess
from handler.core.callers import CallerResolver
from handler.core.listing import Listing
from handler.core.ports import SessionVerifier
from handler.core.sessions import SessionSigner, WeakSecret
from handler.core.ttlcache import TtlCache
from handler.metrics import Metrics
from handler.settings import Settings
from handler.store import budget
from handler.store.cache import CachedDirectory, RevisionedDirectory
from handler.store.circuit import Circuit
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import Service

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

log = logging.getLogger("modelgate")

# Rendered listings are large for big groups; bound them by bytes, not only by count.
LISTING_CACHE_BYTES = 64 * 1024 * 1024

# After a failed read, the circuit asks DynamoDB nothing for REVALIDATE_SECONDS, but never less than this.
MIN_PROBE_INTERVAL = 1.0


def aws_client(
    service_name: str,
    settings: Settings,
    endpoint_url: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """botocore's client, which is what boto3 would hand out: importing boto3 (and its s3transfer) would add about a
    sixth to the cold start for nothing the function uses."""
    options: dict[str, Any] = {"region_name": settings.region, "config": Config(**budget.CLIENT_CONFIG)}
    session = botocore.session.get_session()  # one per client: a second one costs ~12 ms of init
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
        if session.get_credentials() is None:  # local engines accept any credentials
            options.update(aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106
    client = session.create_client(service_name, **options)
    budget.QuickRetry(clock=clock).install(client)
    return client


def dynamodb_client(settings: Settings, clock: Callable[[], float] = time.monotonic) -> DynamoDBClient:
    client: DynamoDBClient = aws_client("dynamodb", settings, settings.dynamodb_endpoint_url, clock)
    return client


def probe_interval(settings: Settings) -> float:
    """How long the circuit asks DynamoDB nothing after a failed read: as long as a healthy container goes between
    revalidations, so an outage never adds load on the store, and its end is seen within REVALIDATE_SECONDS plus
    one read."""
    return max(settings.revalidate_seconds, MIN_PROBE_INTERVAL)


def session_verifier(settings: Settings, *, refuse_on_loop: bool = True) -> SessionVerifier | None:
    if settings.session_secret:
        try:
            return SessionSigner(settings.session_secret)
        except WeakSecret as error:
            log.error("%s; login sessions are ignored", error)
            return None
    if settings.session_secret_arn:
        from handler.store.secrets import SecretsManagerVerifier  # noqa: PLC0415  # only deployed stacks need it

        return SecretsManagerVerifier(
            lambda: aws_client("secretsmanager", settings), settings.session_secret_arn, refuse_on_loop=refuse_on_loop
        )
    return None


def build_service(
    settings: Settings,
    directory: RevisionedDirectory | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    metrics: Metrics | None = None,
    one_request_at_a_time: bool = False,
) -> Service:
    """A Service over `directory`, or over the settings' DynamoDB table, behind the circuit that stops asking it
    for a while after an outage and the cache that revalidates against the change marker (both timed by `clock`).
    Metrics are on when the settings name a namespace (the deployed stack does).

    `one_request_at_a_time`: the container answers one request at a time (Lambda), so a store read may block the
    event loop Mangum runs: nothing else waits on it. Otherwise (`serve`) a read refuses to run on the loop, and the
    request moves to a worker thread (handler/web/app.py)."""
    if metrics is None:
        namespace = settings.metrics_namespace
        metrics = Metrics(namespace, enabled=bool(namespace), level=settings.log_level)
    if directory is not None:
        store = directory
    else:
        store = DynamoDirectory(dynamodb_client(settings, clock), settings.table_name, metrics)
    refuse_on_loop = not one_request_at_a_time
    circuit = Circuit(store, probe_interval=probe_interval(settings), clock=clock, refuse_on_loop=refuse_on_loop)
    cached = CachedDirectory(
        circuit,
        revalidate=settings.revalidate_seconds,
        max_age=settings.cache_max_age_seconds,
        max_entries=settings.cache_max_entries,
        stale_if_error=settings.stale_if_error_seconds,
        clock=clock,
        metrics=metrics,
    )
    # A listing's key names its content (group view version, token list), so it never goes stale: when a change
    # elsewhere makes the cache re-read an unchanged group, the rendered bytes are reused. Only room evicts it.
    listings: TtlCache[ListingKey, Listing] = TtlCache(
        math.inf,
        settings.cache_max_entries,
        weigh=Listing.weight,
        max_weight=LISTING_CACHE_BYTES,
    )
    resolver = CallerResolver(
        cached,
        sessions=session_verifier(settings, refuse_on_loop=refuse_on_loop),
        session_cookie=settings.session_cookie,
        anonymous_access=settings.anonymous_access,
        clock=time.time,
    )
    return Service(settings, resolver, ModelAccess(cached, listings), store, metrics)
