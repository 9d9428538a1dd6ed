"""No secret leaks: a whole session's logs, metrics, admin answers and errors, grepped.

The session runs the app `serve` runs (embedded consumers included) with the JSON
log handler at DEBUG, and does what operators and providers do: add sources with
secrets and credentials, deliver good and forged webhooks, rotate a secret, make
bad admin calls, read metrics, health and rejections. Every captured byte is then
searched for every secret, token and key in play, and for the keys derived from them.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.logs import configure_logging
from gateway.runtime.serve import build_app
from gateway.store.secretbox import _FERNET_INFO, SecretBox, _derive
from gateway.store.sources import SourceRepository
from tests.fixtures.gateway import ADMIN_TOKEN, SECRET_KEYS, make_settings, running_gateway
from tests.gateway import deliveries
from tests.gateway.conftest import public_pem

ROTATED_SECRET = "rotated-calendly-secret-7f3a9c"
CLIENT_SECRET = "google-client-secret-5d1e0b"
REFRESH_TOKEN = "google-refresh-token-a8c4e2"
HOOKGATE = str(Path(sys.executable).parent / "hookgate")


def derived_forms(key: str) -> list[str]:
    """The forms a configured key takes inside the gateway, as text that could be logged."""
    box = SecretBox([key])
    fernet_key = base64.urlsafe_b64encode(_derive(key, _FERNET_INFO)).decode()
    token_key = box.channel_token_keys[0]
    return [
        key,
        fernet_key,
        token_key.hex(),
        base64.urlsafe_b64encode(token_key).decode().rstrip("="),
    ]


def all_secrets() -> list[str]:
    found = [
        ADMIN_TOKEN,
        deliveries.CALENDLY_KEY,
        deliveries.PCO_SECRET,
        ROTATED_SECRET,
        CLIENT_SECRET,
        REFRESH_TOKEN,
    ]
    for key in SECRET_KEYS:
        found += derived_forms(key)
    return found


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The gateway's JSON log handler at DEBUG, writing into a buffer."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging("DEBUG")
    mine = root.handlers[0]
    assert isinstance(mine, logging.StreamHandler)
    mine.setStream(buffer)
    root.handlers[:] = [*handlers, mine]
    try:
        yield buffer
    finally:
        root.removeHandler(mine)
        root.setLevel(level)


async def test_no_secret_in_logs_metrics_admin_answers_or_errors(
    tmp_path: Path, ghl_key: Ed25519PrivateKey, json_logs: io.StringIO
) -> None:
    settings = make_settings(
        tmp_path,
        ghl_public_key_ed25519=public_pem(ghl_key),
        google_api_base="http://127.0.0.1:9",
        google_token_url="http://127.0.0.1:9/token",
    )
    seen: list[str] = []

    def keep(response: httpx.Response) -> httpx.Response:
        seen.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response

    async with running_gateway(settings, build_app) as gw:
        admin, client = gw.admin, gw.client
        created = {
            "calendly": keep(
                await admin.post(
                    "/admin/sources",
                    json={"provider": "calendly", "tenant": "t", "secret": deliveries.CALENDLY_KEY},
                )
            ),
            "pco": keep(
                await admin.post(
                    "/admin/sources",
                    json={"provider": "pco", "tenant": "t", "secret": deliveries.PCO_SECRET},
                )
            ),
            "ghl": keep(
                await admin.post("/admin/sources", json={"provider": "ghl", "tenant": "t"})
            ),
            "google": keep(
                await admin.post(
                    "/admin/sources",
                    json={
                        "provider": "google",
                        "tenant": "t",
                        "credentials": {
                            "client_id": "cid",
                            "client_secret": CLIENT_SECRET,
                            "refresh_token": REFRESH_TOKEN,
                        },
                    },
                )
            ),
        }
        ids = {provider: r.json()["id"] for provider, r in created.items()}
        now = datetime.now(UTC)

        async def deliver(provider: str, signed: deliveries.Signed) -> httpx.Response:
            return keep(
                await client.post(
                    f"/webhooks/{provider}/{ids[provider]}",
                    content=signed.body,
                    headers=signed.headers,
                )
            )

        assert (await deliver("calendly", deliveries.calendly(now))).status_code == 200
        assert (await deliver("pco", deliveries.pco(now))).status_code == 200
        assert (await deliver("ghl", deliveries.ghl(now, ghl_key))).status_code == 200
        assert (await deliver("google", deliveries.google(now, ids["google"]))).status_code == 200
        assert (await deliver("calendly", deliveries.calendly(now, key="x"))).status_code == 401
        assert (await deliver("pco", deliveries.pco(now, secret="y"))).status_code == 401
        keep(
            await admin.post(
                f"/admin/sources/{ids['calendly']}/secret", json={"secret": ROTATED_SECRET}
            )
        )
        assert (
            await deliver("calendly", deliveries.calendly(now, key=ROTATED_SECRET))
        ).status_code == 200
        assert (await deliver("calendly", deliveries.calendly(now))).status_code == 200  # grace
        # errors: bad admin calls that carry secrets, a wrong token, unknown things
        keep(
            await admin.post(
                "/admin/sources",
                json={"provider": "ghl", "tenant": "t", "secret": deliveries.PCO_SECRET},
            )
        )
        keep(
            await admin.post(
                "/admin/sources",
                json={
                    "provider": "calendly",
                    "tenant": "t",
                    "secret": deliveries.PCO_SECRET,
                    "extra": CLIENT_SECRET,
                },
            )
        )
        keep(
            await admin.post(
                "/admin/sources", content=b'{"secret": "' + REFRESH_TOKEN.encode() + b'"'
            )
        )
        keep(
            await admin.post(f"/admin/sources/{ids['ghl']}/secret", json={"secret": ROTATED_SECRET})
        )
        keep(await admin.post("/admin/sources/src_nope/secret", json={"secret": ROTATED_SECRET}))
        keep(
            await client.get(
                "/admin/sources", headers={"Authorization": f"Bearer {ADMIN_TOKEN[:-2]}"}
            )
        )
        keep(await client.post(f"/webhooks/calendly/{ids['pco']}", content=b"{}"))
        for path in (
            "/admin/sources",
            *(f"/admin/sources/{i}" for i in ids.values()),
            "/admin/rejections",
        ):
            keep(await admin.get(path))
        for path in ("/healthz", "/readyz", "/metrics"):
            keep(await client.get(path))
        await asyncio.sleep(1.5)  # let the embedded consumers apply and log
        seen.append(repr(gw.app.state.context))
        seen.append(repr(gw.settings))
        keep(await admin.delete(f"/admin/sources/{ids['pco']}"))
    logs = json_logs.getvalue()
    assert '"reason":"invalid_signature"' in logs, "the log capture works"
    haystack = "\n".join([logs, *seen])
    assert "hookgate_deliveries_total" in haystack, "metrics were captured"
    assert ids["google"] in haystack, "admin answers were captured"
    leaked = [secret for secret in all_secrets() if secret in haystack]
    assert leaked == [], f"secrets leaked: {[s[:6] + '…' for s in leaked]}"


async def test_rekey_cli_moves_every_secret_to_the_newest_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
    env |= {
        "HOOKGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
        "HOOKGATE_SPOOL_PATH": str(tmp_path / "spool.db"),
        "HOOKGATE_SECRET_KEYS": ",".join(SECRET_KEYS),
    }

    def hookgate(*args: str, stdin: str | None = None, keys: str | None = None) -> str:
        run_env = env | ({"HOOKGATE_SECRET_KEYS": keys} if keys else {})
        done = subprocess.run(
            [HOOKGATE, *args],
            env=run_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        for secret in [*all_secrets(), "brand-new-key-for-rekey-0123456789"]:
            assert secret not in done.stdout + done.stderr
        return done.stdout

    hookgate("migrate")
    hookgate(
        "sources",
        "add",
        "calendly",
        "--tenant",
        "a",
        "--secret",
        "-",
        stdin=deliveries.CALENDLY_KEY + "\n",
    )
    hookgate(
        "sources",
        "add",
        "google",
        "--tenant",
        "a",
        "--client-id",
        "cid",
        "--client-secret",
        CLIENT_SECRET,
        "--refresh-token",
        REFRESH_TOKEN,
    )
    hookgate("sources", "add", "ghl", "--tenant", "a")
    new_key = "brand-new-key-for-rekey-0123456789"
    out = hookgate("sources", "rekey", keys=",".join((new_key, *SECRET_KEYS)))
    assert out.strip() == "re-encrypted the secrets of 2 source(s) under the newest key"

    async def read_back() -> tuple[list[tuple[str, ...]], dict[str, str]]:
        engine = create_async_engine(env["HOOKGATE_DATABASE_URL"])
        try:
            only_new = SourceRepository(engine, SecretBox([new_key]))
            found = await only_new.list()
            secrets = []
            credentials: dict[str, str] = {}
            for source in found:
                got = await only_new.secrets(source.id, now=datetime.now(UTC))
                assert got is not None
                secrets.append(got.secrets)
                credentials |= await only_new.credentials(source.id)
            return secrets, credentials
        finally:
            await engine.dispose()

    secrets, credentials = await read_back()
    assert (deliveries.CALENDLY_KEY,) in secrets
    assert credentials["refresh_token"] == REFRESH_TOKEN
