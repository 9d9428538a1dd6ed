"""`hookgate sync SOURCE_ID [--incremental] [--no-wait]`: import a source's records.

The sync is a job in the store; a serving process (`hookgate serve`) runs it, so
this command only starts it and, unless `--no-wait`, follows it: a progress line on
a terminal (standard error), then the final counts as JSON on standard output. The
exit status is 0 when the sync completed, 1 when it failed or was canceled.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

import orjson

from consumers.imports.jobs import SyncJob, SyncJobs
from consumers.providers import IMPORTERS
from gateway.commands import CommandError, audit
from gateway.commands.sources import repository
from gateway.settings import Settings
from gateway.store.audit import OK
from gateway.store.engine import create_engine
from schemas.sync_store import SYNC_COMPLETED, SYNC_RUNNING

POLL_SECONDS = 0.5


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sync", help="import a source's records (run by the serving process)"
    )
    parser.add_argument("source_id")
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="only what changed since the last completed sync (no deletions)",
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="start the sync and print its id only"
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    async with repository(settings) as repo:
        source = await repo.get(args.source_id)
    if source is None:
        raise CommandError(f"no source {args.source_id!r} exists.")
    if source.provider not in IMPORTERS or not source.has_credentials:
        raise CommandError(f"source {source.id!r} has nothing to import with (credentials).")
    engine = create_engine(settings)
    try:
        jobs = SyncJobs(engine)
        job = await jobs.create(
            source_id=source.id,
            provider=source.provider,
            tenant=source.tenant,
            mode="incremental" if args.incremental else "full",
            now=datetime.now(UTC),
        )
        await audit.record(
            settings,
            "source.sync",
            source_id=source.id,
            tenant=source.tenant,
            outcome="sync_running" if job is None else OK,
            detail={"sync_id": job.id} if job else {},
        )
        if job is None:
            raise CommandError(f"a sync of {source.id!r} is running already.")
        if args.no_wait:
            print(orjson.dumps({"id": job.id, "status": job.status}).decode())
            return 0
        job = await follow(jobs, job)
    finally:
        await engine.dispose()
    print(orjson.dumps(job.as_json()).decode())
    return 0 if job.status == SYNC_COMPLETED else 1


async def follow(jobs: SyncJobs, job: SyncJob) -> SyncJob:
    """Poll `job` until it ends, drawing its progress on a terminal."""
    terminal = sys.stderr.isatty()
    current = job
    while current.status == SYNC_RUNNING:
        await asyncio.sleep(POLL_SECONDS)
        current = await jobs.get(job.id) or current
        if terminal:
            sys.stderr.write("\r\x1b[K" + progress(current))
            sys.stderr.flush()
    if terminal:
        sys.stderr.write("\n")
    return current


def progress(job: SyncJob) -> str:
    counts = job.counts
    applied = f"{job.applied}/{job.published}" if job.published else "0/0"
    return (
        f"{job.id} {job.phase}: fetched {counts['items_processed']}, applied {applied} "
        f"(created {counts['items_created']}, updated {counts['items_updated']}, "
        f"unchanged {counts['items_unchanged']}, deleted {counts['items_deleted']})"
    )
