"""Where the gateway and the consumers meet: the app `serve` runs.

On the embedded default (no Kafka) the consumers run inside the gateway process,
reading the spool; with several uvicorn workers a lease in the spool lets one
worker at a time run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette

from consumers.apply import Applier
from consumers.handlers import build_registry
from consumers.log_runner import LogRunner
from gateway.app import Background, GatewayContext, create_app
from gateway.bus import EMBEDDED_GROUP
from gateway.settings import Settings
from gateway.spool import Spool
from schemas import CloudEvent

log = logging.getLogger("hookgate.wiring")

TRIM_INTERVAL_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


@contextlib.asynccontextmanager
async def embedded_consumers(context: GatewayContext) -> AsyncIterator[None]:
    """Run the handlers on the spool, in this process, while the app runs."""
    bus = context.bus
    if bus is None or context.settings.kafka_bootstrap_servers:
        yield
        return
    applier = Applier(context.engine, build_registry())

    async def apply(events: Sequence[CloudEvent]) -> None:
        await applier.apply(events)

    runner = LogRunner(bus.spool, apply, group=EMBEDDED_GROUP, lease=bus.spool)
    consuming = asyncio.create_task(runner.run(), name="hookgate-embedded-consumer")
    trimming = asyncio.create_task(_trim_forever(bus.spool), name="hookgate-spool-trim")
    try:
        yield
    finally:
        runner.stop()
        trimming.cancel()
        try:
            await asyncio.wait_for(consuming, STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("the embedded consumer did not stop in time; its batch will be re-read")
        with contextlib.suppress(asyncio.CancelledError):
            await trimming


async def _trim_forever(spool: Spool) -> None:
    while True:
        await asyncio.sleep(TRIM_INTERVAL_SECONDS)
        try:
            await spool.trim()
        except Exception:
            log.exception("spool trim failed; retrying later")


def background(settings: Settings) -> list[Background]:
    return [embedded_consumers]


def build_app(settings: Settings) -> Starlette:
    return create_app(settings, background=background(settings))
