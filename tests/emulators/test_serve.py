"""The development mode: every emulator on one port, with the settings printed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest

from tests.emulators.flows import REDIRECT_URI, redirect_query
from tests.fixtures.net import free_port


@pytest.fixture
def served() -> Iterator[dict[str, str]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.serve", "--port", str(port), "--people", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        settings: dict[str, str] = {}
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("#"):
                break
            name, _, value = line.removeprefix("export ").strip().partition("=")
            settings[name] = value
        for _ in range(100):
            try:
                httpx.get(settings["HOOKGATE_PCO_API_BASE"] + "/people/v2", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield settings
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_the_consent_page_connects_the_seeded_account(served: dict[str, str]) -> None:
    with httpx.Client(timeout=5) as http:
        page = http.get(
            served["HOOKGATE_PCO_AUTHORIZE_URL"],
            params={
                "client_id": served["HOOKGATE_PCO_CLIENT_ID"],
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "scope": "people",
                "state": "dev",
            },
        )
        approve = page.text.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        code = redirect_query(http.get(urljoin(str(page.url), approve)))
        tokens = http.post(
            served["HOOKGATE_PCO_TOKEN_URL"],
            data={
                "grant_type": "authorization_code",
                "code": code["code"],
                "redirect_uri": REDIRECT_URI,
                "client_id": served["HOOKGATE_PCO_CLIENT_ID"],
                "client_secret": served["HOOKGATE_PCO_CLIENT_SECRET"],
            },
        ).json()
        people = http.get(
            served["HOOKGATE_PCO_API_BASE"] + "/people/v2/people",
            params={"per_page": 1},
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        ).json()

    assert code["state"] == "dev"
    assert people["meta"]["total_count"] == 3
    assert set(served) >= {
        f"HOOKGATE_{p}_{s}"
        for p in ("PCO", "GHL", "CALENDLY", "GOOGLE")
        for s in ("AUTHORIZE_URL", "TOKEN_URL", "API_BASE", "CLIENT_ID", "CLIENT_SECRET")
    }
