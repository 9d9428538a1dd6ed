"""`hookgate migrate`: bring the store to the newest schema.

Alembic (with Mako, and Pygments where installed) is imported only when the command
runs: every `hookgate` process loads this module, and a `serve` worker or a consumer
would otherwise carry them for nothing (18 MiB of a gateway worker's peak RSS in the
benchmark).
"""

from __future__ import annotations

import argparse

from gateway.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="create or upgrade the store's tables",
        description="Apply the Alembic migrations to HOOKGATE_DATABASE_URL (idempotent).",
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.store.migrate import upgrade

    await upgrade(settings.database_url)
    print(f"hookgate migrate: {settings.database_url.split('@')[-1]} is up to date")
    return 0
