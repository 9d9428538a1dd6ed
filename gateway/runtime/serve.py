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

from consumers.dead_letter_table import DeadLetterTable
from consumers.google.wiring import GoogleSync
from consumers.log_runner import LogRunner
from consumers.metrics import CountedDeadLetters, polling
from consumers.stack import ConsumerStack, google_sync, handled_event_types
from gateway.app import GatewayContext, create_app
from gateway.bus.spool import Spool
from gateway.bus.transport import EMBEDDED_GROUP, Bus
from gateway.google.channels import ChannelManager, channel_manager
from gateway.google.routes import google_admin_routes
from gateway.runtime.connect import Connections
from gateway.runtime.credentials import RepositoryCredentialStore
from gateway.runtime.poller import metrics_poller
from gateway.runtime.stack import stack_settings
from gateway.runtime.syncs import Imports
from gateway.settings import Settings
from gateway.tasks import running
from schemas import CloudEvent

log = logging.getLogger("hookgate.wiring")

TRIM_INTERVAL_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


class ServeGoogle:
    """The serving process's one Google client set and sync, made on first use and
    shared by the channels it keeps open and, on the embedded default, the consumers."""

    def __init__(self, settings: Settings) -> None:
        self._settings = stack_settings(settings)
        self._http: httpx.AsyncClient | None = None
        self._sync: GoogleSync | None = None

    def sync(self, context: GatewayContext) -> GoogleSync:
        if self._sync is None:
            self._http = httpx.AsyncClient(timeout=self._settings.http_timeout_seconds)
            self._sync = google_sync(
                context.engine,
                RepositoryCredentialStore(context.sources),
                self._http,
                self._settings,
            )
        return self._sync

    def channels(self, context: GatewayContext) -> ChannelManager:
        return channel_manager(context, self.sync(context).client_for)

    def stack(self, context: GatewayContext) -> ConsumerStack:
        """The consumers over this process's Google sync, counted on the gateway's metrics."""
        return ConsumerStack.build(
            context.engine,
            self.sync(context),
            self._settings,
            metrics_registry=context.metrics.registry,
        )

    async def aclose(self) -> None:
        if self._sync is not None:
            await self._sync.aclose()
        if self._http is not None:
            await self._http.aclose()

    @contextlib.asynccontextmanager
    async def renewing(self, context: GatewayContext) -> AsyncIterator[None]:
        """Renew Google channels before they expire; close the Google clients at exit."""
        try:
            async with running(
                self.channels(context).run_renewals(), name="hookgate-google-renewals"
            ):
                yield
        finally:
            await self.aclose()


@contextlib.asynccontextmanager
async def embedded_consumers(stack: ConsumerStack, bus: Bus) -> AsyncIterator[None]:
    """Run the handlers on the spool, in this process, while the app runs; events
    that cannot be applied are parked in the store's `dead_letters` table."""
    await stack.start()
    apply = stack.apply
    dead_letters = CountedDeadLetters(DeadLetterTable(stack.engine), stack.metrics)

    async def apply_batch(events: Sequence[CloudEvent]) -> None:
        await apply(events)

    runner = LogRunner(
        bus.spool, apply_batch, group=EMBEDDED_GROUP, lease=bus.spool, dead_letters=dead_letters
    )
    consuming = asyncio.create_task(runner.run(), name="hookgate-embedded-consumer")
    try:
        async with (
            running(_trim_forever(bus.spool), name="hookgate-spool-trim"),
            running(stack.upkeep(), name="hookgate-consumer-upkeep"),
            polling(stack.metrics, engine=stack.engine, dead_letters=dead_letters),
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


def build_app(settings: Settings) -> Starlette:
    google = ServeGoogle(settings)
    imports = Imports()
    connections = Connections(google.channels, on_connected=[imports.on_connected])

    @contextlib.asynccontextmanager
    async def consumers(context: GatewayContext) -> AsyncIterator[None]:
        if context.bus is None or settings.kafka_bootstrap_servers:
            yield  # with Kafka, `hookgate consume` applies the events
            return
        async with embedded_consumers(google.stack(context), context.bus):
            yield

    return create_app(
        settings,
        background=[metrics_poller, google.renewing, consumers, imports.running],
        admin_routes=[
            connections.admin_routes,  # first: its Google disconnect is the full one
            lambda context: google_admin_routes(google.channels(context)),
            imports.admin_routes,
        ],
        public_routes=[connections.public_routes],
        on_source_remove=[lambda context: google.channels(context).on_source_removed],
        event_types=handled_event_types(),
    )
