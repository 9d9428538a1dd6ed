"""Fixtures for the gateway: a real uvicorn server on loopback, SQLite store, real spool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, generate_private_key

from gateway.app import create_app
from tests.fixtures.gateway import FrozenClock, RunningGateway, make_settings, running_gateway


def public_pem(key: Ed25519PrivateKey | RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="session")
def ghl_ed25519_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def ghl_rsa_key() -> RSAPrivateKey:
    return generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def gateway(
    tmp_path: Path,
    clock: FrozenClock,
    ghl_ed25519_key: Ed25519PrivateKey,
    ghl_rsa_key: RSAPrivateKey,
) -> AsyncIterator[RunningGateway]:
    settings = make_settings(
        tmp_path,
        ghl_public_key_ed25519=public_pem(ghl_ed25519_key),
        ghl_public_key_rsa=public_pem(ghl_rsa_key),
        max_body_bytes=64 * 1024,
    )
    async with running_gateway(settings, lambda s: create_app(s, clock=clock)) as running:
        yield running
