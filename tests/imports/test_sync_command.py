"""`hookgate sync` starts a sync that the serving process runs and prints its final
counts as JSON; `--incremental` imports only what changed since the last completed
sync began on the provider's clock (less a minute's overlap)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from gateway.commands import CommandError
from gateway.commands import sync as sync_command
from gateway.runtime.serve import build_app
from tests.fixtures.gateway import running_gateway
from tests.gateway.connecting import connect_settings
from tests.imports.syncing import clocked_emulators


async def test_the_sync_command_prints_the_final_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with clocked_emulators() as (emulators, clock):
        org = emulators.pco.add_organization("Grace")
        people = emulators.pco.add_people(org, 100)
        clock.moment += timedelta(minutes=10)
        emulators.pco.add_people(org, 50)
        app_id, secret = emulators.pco.add_personal_access_token(org)
        settings = connect_settings(tmp_path, emulators)
        async with running_gateway(settings, build_app) as gateway:
            source = (
                await gateway.add_source(
                    "pco", tenant="church", credentials={"app_id": app_id, "secret": secret}
                )
            )["id"]

            def args(**given: object) -> argparse.Namespace:
                values = {"source_id": source, "incremental": False, "no_wait": False}
                return argparse.Namespace(**(values | given))

            assert await sync_command.run(args(), settings) == 0
            full = orjson.loads(capsys.readouterr().out)
            clock.moment += timedelta(minutes=1)
            await emulators.pco.update_person(org, people[7].id, last_name="Changed")
            assert await sync_command.run(args(incremental=True), settings) == 0
            incremental = orjson.loads(capsys.readouterr().out)
            with pytest.raises(CommandError, match="no source"):
                await sync_command.run(args(source_id="src_missing"), settings)

    assert full["status"] == "completed"
    assert (full["mode"], full["items_processed"], full["items_created"]) == ("full", 150, 150)
    assert incremental["mode"] == "incremental"
    # changed since a minute before the full sync began (the provider's clock): the 50
    # people added then (unchanged) and the one updated since
    assert (
        incremental["items_processed"],
        incremental["items_updated"],
        incremental["items_unchanged"],
    ) == (51, 1, 50), incremental
