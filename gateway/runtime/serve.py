"""Where the gateway and the consumers meet: the app `serve` runs.

On the embedded default (no Kafka) the consumers run inside the gateway process,
reading the spool; with several uvicorn workers a lease in the spool lets one
worker at a time run them. With Kafka, `hookgate consume` applies the events and
`serve` only keeps Google's channels open (admin routes and renewals).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

import httpx
from starlette.applications import Starlette

from consumers.apply import Applier
from consumers.dead_letter_table import DeadLetterTable
from consumers.google.wiring import GoogleSync, build_google_sync
from consumers.handlers import build_registry
from consumers.log_runner import LogRunner
from consumers.metrics import ConsumerMetrics, CountedDeadLetters, polling
from consumers.registry import HandlerRegistry
from consumers.upkeep import upkeep_forever
from gateway.app import Background, GatewayContext, create_app
from gateway.bus.spool import Spool
from gateway.bus.transport import EMBEDDED_GROUP
from gateway.google.channels import ChannelManager, context_channel_manager
from gateway.google.routes import google_admin_routes
from gateway.ingress.metrics import metrics_poller
from gateway.runtime.connect import connect_admin_routes, oauth_callback_routes
from gateway.runtime.credentials import RepositoryCredentialStore
from gateway.settings import Settings
from gateway.tasks import running
from schemas import CloudEvent

log = logging.getLogger("hookgate.wiring")

TRIM_INTERVAL_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
GOOGLE_HTTP_TIMEOUT_SECONDS = 30.0


def google_sync(context: GatewayContext) -> GoogleSync:
    """The process's one Google client set and sync (made on first use)."""
    found = context.extras.get("google_sync")
    if isinstance(found, GoogleSync):
        return found
    http = httpx.AsyncClient(timeout=GOOGLE_HTTP_TIMEOUT_SECONDS)
    context.extras["google_http"] = http
    made = build_google_sync(
        context.engine,
        RepositoryCredentialStore(context.sources),
        http,
        api_base=context.settings.google_api_base,
        token_url=context.settings.google_token_url,
        max_running_syncs=context.settings.google_sync_concurrency,
    )
    context.extras["google_sync"] = made
    return made


def channel_manager(context: GatewayContext) -> ChannelManager:
    return context_channel_manager(context, google_sync(context).client_for)


def store_registry(google: GoogleSync) -> HandlerRegistry:
    """Every handler the consumers run, Google's sync included: the one assembly that
    `serve` (embedded), `hookgate consume` and `hookgate replay` all apply with."""
    registry = build_registry()
    google.register(registry)
    return registry


def consumer_registry(context: GatewayContext) -> HandlerRegistry:
    return store_registry(google_sync(context))


@contextlib.asynccontextmanager
async def google_channels(context: GatewayContext) -> AsyncIterator[None]:
    """Renew Google channels before they expire; close the Google HTTP client at exit."""
    try:
        async with running(
            channel_manager(context).run_renewals(), name="hookgate-google-renewals"
        ):
            yield
    finally:
        await google_sync(context).aclose()
        http = context.extras.get("google_http")
        if isinstance(http, httpx.AsyncClient):
            await http.aclose()


@contextlib.asynccontextmanager
async def embedded_consumers(context: GatewayContext) -> AsyncIterator[None]:
    """Run the handlers on the spool, in this process, while the app runs; events
    that cannot be applied are parked in the store's `dead_letters` table."""
    bus = context.bus
    if bus is None or context.settings.kafka_bootstrap_servers:
        yield
        return
    registry = consumer_registry(context)
    metrics = ConsumerMetrics(context.metrics.registry, event_types=registry.event_types)
    applier = Applier(context.engine, registry, metrics=metrics)
    instrumented = metrics.instrument(applier.apply)
    google = google_sync(context)
    metrics.watch_google(google)
    await google.start()

    async def apply(events: Sequence[CloudEvent]) -> None:
        await instrumented(events)

    dead_letters = CountedDeadLetters(DeadLetterTable(context.engine), metrics)
    runner = LogRunner(
        bus.spool, apply, group=EMBEDDED_GROUP, lease=bus.spool, dead_letters=dead_letters
    )
    consuming = asyncio.create_task(runner.run(), name="hookgate-embedded-consumer")
    try:
        upkeep = upkeep_forever(
            applier, google, google_resync_seconds=context.settings.google_resync_seconds
        )
        async with (
            running(_trim_forever(bus.spool), name="hookgate-spool-trim"),
            running(upkeep, name="hookgate-consumer-upkeep"),
            polling(metrics, engine=context.engine, dead_letters=dead_letters),
        ):
            yield
    finally:
        runner.stop()
        try:
            await asyncio.wait_for(consuming, STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("the embedded consumer did not stop in time; its batch will be re-read")


async def _trim_forever(spool: Spool) -> None:
    while True:
        await asyncio.sleep(TRIM_INTERVAL_SECONDS)
        try:
            await spool.trim()
        except Exception:
            log.exception("spool trim failed; retrying later")


def background(settings: Settings) -> list[Background]:
    return [metrics_poller, google_channels, embedded_consumers]


def build_app(settings: Settings) -> Starlette:
    return create_app(
        settings,
        background=background(settings),
        admin_routes=[
            lambda context: google_admin_routes(channel_manager(context)),
            connect_admin_routes,
        ],
        public_routes=[oauth_callback_routes],
        on_source_remove=[lambda context: channel_manager(context).on_source_removed],
    )
