"""The quick start, as a newcomer runs it: migrate, add a source, serve, send."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import uvloop
from sqlalchemy import create_engine, select

from gateway import cli
from gateway.commands import sources
from gateway.settings import Settings
from schemas.store import bookings
from tests.fixtures.net import free_port
from tests.fixtures.serve import HOOKGATE, ServeProcess


def quick_start(tmp: Path) -> ServeProcess:
    """A gateway configured as a newcomer's: a store, a spool, a dev key, a port (and no
    Google API beyond loopback)."""
    settings = {
        "database_url": f"sqlite+aiosqlite:///{tmp / 'hookgate.db'}",
        "spool_path": tmp / "hookgate-spool.db",
        "dev_key_path": tmp / "hookgate-dev.key",
        "port": free_port(),
        "google_api_base": "http://127.0.0.1:9",
        "google_token_url": "http://127.0.0.1:9/token",
    }
    return ServeProcess(settings, tmp / "serve.log")


def hookgate(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [HOOKGATE, *args],
        check=False,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def test_quick_start_serve_send_and_apply(tmp_path: Path) -> None:
    gateway = quick_start(tmp_path)
    port, env = gateway.port, gateway.env
    hookgate(env, "migrate")
    source = orjson.loads(
        hookgate(
            env, "sources", "add", "calendly", "--tenant", "acme", "--secret", "-", stdin="s3cret\n"
        )
    )
    assert source["url"] == f"http://127.0.0.1:{port}/webhooks/calendly/{source['id']}"
    assert "s3cret" not in hookgate(env, "sources", "list")
    server = gateway.start()
    try:
        sent = hookgate(env, "send", "calendly", "invitee.created", "--source", source["id"])
        status, _, body = sent.partition(" ")
        assert status == "200", sent
        event_id = orjson.loads(body)["id"]
        store = create_engine(f"sqlite:///{tmp_path / 'hookgate.db'}")
        deadline = time.monotonic() + 20
        rows: list[tuple[str, str]] = []
        while time.monotonic() < deadline and not rows:
            with store.connect() as conn:
                rows = list(conn.execute(select(bookings.c.status, bookings.c.tenant)).all())
            time.sleep(0.2)
        store.dispose()
        assert rows == [("active", "acme")], f"event {event_id} not applied"
    finally:
        exit_code = server.terminate()
    output = gateway.log_path.read_text(errors="replace")
    assert exit_code == 0, output[-2000:]
    assert "s3cret" not in output


def test_cli_errors_are_one_clear_sentence(tmp_path: Path) -> None:
    env = quick_start(tmp_path).env
    hookgate(env, "migrate")
    done = subprocess.run(
        [HOOKGATE, "sources", "add", "calendly", "--tenant", "acme"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "hookgate sources: calendly sources need --secret (use - to read it from stdin)."
    )


def test_async_commands_run_on_uvloop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`hookgate consume` and the other async commands run on the loop `serve` uses."""
    seen: list[type[asyncio.AbstractEventLoop]] = []

    async def run_list(args: argparse.Namespace, settings: Settings) -> int:
        seen.append(type(asyncio.get_running_loop()))
        return 0

    monkeypatch.setattr(sources, "run_list", run_list)
    for name, value in quick_start(tmp_path).env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["sources", "list"]) == 0
    assert seen == [uvloop.Loop]


def test_the_cli_leaves_alembic_to_the_migrate_command() -> None:
    """Every `hookgate` process (a `serve` worker too) imports the CLI; Alembic and Mako
    are loaded only by `hookgate migrate`."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, gateway.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'mako'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
