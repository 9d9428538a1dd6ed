"""Fixtures for the reliability tests: GHL test keys and a gateway served like `serve` does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.app import create_app
from tests.fixtures.gateway import RunningGateway, make_settings, running_gateway
from tests.gateway.conftest import public_pem


@pytest.fixture(scope="session")
def ghl_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
async def served(tmp_path: Path, ghl_key: Ed25519PrivateKey) -> AsyncIterator[RunningGateway]:
    settings = make_settings(
        tmp_path,
        ghl_public_key_ed25519=public_pem(ghl_key),
        max_body_bytes=64 * 1024,
        max_header_bytes=8192,
        header_timeout_seconds=1.0,
        body_timeout_seconds=1.0,
        rate_limit_per_second=0,
    )
    async with running_gateway(settings, create_app) as running:
        yield running
