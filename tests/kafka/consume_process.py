"""`hookgate consume` as the kill -9 test runs it: the real runner, config and store,
plus a pause after each batch's store commit and before its offset commit, so that a
kill lands in the window where the store has a batch that Kafka does not know about.

    python -m tests.kafka.consume_process PAUSE_SECONDS   (settings from HOOKGATE_*)
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import create_async_engine

from consumers.apply import Applier, ApplyResult
from consumers.kafka_runner import KafkaRunner, run_until_signalled
from consumers.providers import build_registry
from gateway.commands import consume
from gateway.settings import Settings
from schemas import CloudEvent


async def main(pause: float) -> None:
    settings = Settings()
    args = argparse.Namespace(
        group=None, providers=["calendly"], max_batch=100, max_retries=3, session_timeout_ms=6000
    )
    config = consume.runner_config(settings, args, ["calendly"])
    engine = create_async_engine(settings.database_url)
    applier = Applier(engine, build_registry())

    async def apply(events: Sequence[CloudEvent]) -> ApplyResult:
        result = await applier.apply(events)
        print(f"applied={result.applied} duplicates={result.duplicates}", flush=True)
        await asyncio.sleep(pause)
        return result

    try:
        await run_until_signalled(KafkaRunner(config, apply), signal.SIGTERM, signal.SIGINT)
    finally:
        await engine.dispose()
    print("stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1])))
