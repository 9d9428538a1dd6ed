"""`hookgate sources add|list|remove|rekey`: manage sources straight in the store.

Secrets are read from standard input when given as `-`, so they stay out of the
shell history and the process list.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson

from gateway.admin.sources import describe
from gateway.commands import CommandError, audit
from gateway.ingress.providers import PROVIDERS
from gateway.settings import Settings
from gateway.store.engine import create_engine
from gateway.store.secretbox import secretbox_from
from gateway.store.sources import SourceRepository


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sources", help="add, list, remove or rekey sources")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="register a provider account of a tenant")
    add.add_argument("provider", choices=sorted(PROVIDERS))
    add.add_argument("--tenant", required=True)
    add.add_argument("--secret", help="the provider's signing secret, or - to read it from stdin")
    add.add_argument("--client-id", help="Google OAuth client id")
    add.add_argument("--client-secret", help="Google OAuth client secret, or - for stdin")
    add.add_argument("--refresh-token", help="Google OAuth refresh token, or - for stdin")
    add.add_argument("--default-region", help="phone numbers' default region, e.g. US")
    add.set_defaults(run=run_add)

    show = actions.add_parser("list", help="list sources (never their secrets)")
    show.add_argument("--provider", choices=sorted(PROVIDERS))
    show.set_defaults(run=run_list)

    remove = actions.add_parser("remove", help="delete a source")
    remove.add_argument("source_id")
    remove.set_defaults(run=run_remove)

    rekey = actions.add_parser(
        "rekey", help="re-encrypt every stored secret under the newest HOOKGATE_SECRET_KEYS key"
    )
    rekey.set_defaults(run=run_rekey)


@contextlib.asynccontextmanager
async def repository(settings: Settings) -> AsyncIterator[SourceRepository]:
    engine = create_engine(settings)
    try:
        yield SourceRepository(engine, secretbox_from(settings))
    finally:
        await engine.dispose()


def _value(given: str | None) -> str | None:
    if given == "-":
        return sys.stdin.readline().rstrip("\n") or None
    return given


async def run_add(args: argparse.Namespace, settings: Settings) -> int:
    provider = PROVIDERS[args.provider]
    secret = _value(args.secret)
    credentials = None
    if provider.credentials:
        fields = {
            "client_id": args.client_id,
            "client_secret": _value(args.client_secret),
            "refresh_token": _value(args.refresh_token),
        }
        missing = [f"--{name.replace('_', '-')}" for name, value in fields.items() if not value]
        if missing:
            raise CommandError(f"{provider.name} sources need {', '.join(missing)}.")
        credentials = {name: str(value) for name, value in fields.items()}
    if provider.secret and not secret:
        raise CommandError(f"{provider.name} sources need --secret (use - to read it from stdin).")
    if not provider.secret and secret:
        raise CommandError(f"{provider.name} sources take no --secret.")
    options = {"default_region": args.default_region} if args.default_region else {}
    async with repository(settings) as repo:
        source = await repo.create(
            provider=provider.name,
            tenant=args.tenant,
            secret=secret,
            credentials=credentials,
            options=options,
            now=datetime.now(UTC),
        )
    given = {"secret": secret, "options": options, **(credentials or {})}
    await audit.record(
        settings,
        "source.create",
        source_id=source.id,
        tenant=source.tenant,
        detail={"fields": sorted(name for name, value in given.items() if value)},
    )
    print(orjson.dumps(describe(source, settings.resolved_public_url)).decode())
    return 0


async def run_list(args: argparse.Namespace, settings: Settings) -> int:
    async with repository(settings) as repo:
        for source in await repo.list(args.provider):
            print(orjson.dumps(describe(source, settings.resolved_public_url)).decode())
    return 0


async def run_remove(args: argparse.Namespace, settings: Settings) -> int:
    async with repository(settings) as repo:
        source = await repo.get(args.source_id)
        if source is None or not await repo.remove(source.id):
            raise CommandError(f"no source {args.source_id!r} exists.")
    await audit.record(settings, "source.delete", source_id=source.id, tenant=source.tenant)
    print(f"removed {args.source_id}")
    return 0


async def run_rekey(args: argparse.Namespace, settings: Settings) -> int:
    async with repository(settings) as repo:
        count = await repo.rekey()
    await audit.record(settings, "sources.rekey", detail={"sources": count})
    print(f"re-encrypted the secrets of {count} source(s) under the newest key")
    return 0
