"""Fixtures for the reliability tests: GHL test keys and a gateway served like `serve` does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.app import create_app
from gateway.settings import Settings
from tests.fixtures.gateway import RunningGateway, make_settings, running_gateway
from tests.gateway.conftest import public_pem


@pytest.fixture(scope="session")
def ghl_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def bounded_settings(tmp_path: Path, ghl_key: Ed25519PrivateKey, **overrides: Any) -> Settings:
    """Small bounds (64 KiB bodies, 8 KiB headers, 1 s for the headers), GHL's test key,
    no rate limit."""
    return make_settings(
        tmp_path,
        ghl_public_key_ed25519=public_pem(ghl_key),
        max_body_bytes=64 * 1024,
        max_header_bytes=8192,
        header_timeout_seconds=1.0,
        rate_limit_per_second=0,
        **overrides,
    )


@pytest.fixture
async def served(tmp_path: Path, ghl_key: Ed25519PrivateKey) -> AsyncIterator[RunningGateway]:
    settings = bounded_settings(tmp_path, ghl_key, body_timeout_seconds=1.0)
    async with running_gateway(settings, create_app) as running:
        yield running
