"""PostgreSQL unavailable under load: consumers pause without committing, then catch up.

The outage is `HOOKGATE_TEST_DB_OUTAGE_SECONDS` long (8 s by default; the soak
script tests/soak/database_outage.py runs it for 30 s). Every delivery answered 200
is in the store exactly once afterwards (bookings are keyed by invitee), and nothing
is there that was never sent.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fixtures.gateway import ADMIN_HEADERS
from tests.fixtures.serve import ServeProcess
from tests.fixtures.tcp_proxy import TcpProxy
from tests.gateway import deliveries
from tests.gateway.conftest import public_pem
from tests.reliability.database_outage import (
    LOAD_WORKERS,
    OutageReport,
    embedded_mode,
    kafka_mode,
)
from tests.reliability.readback import (
    migrate_and_add_calendly,
    port_of,
    store_settings,
    with_port,
)

OUTAGE_SECONDS = float(os.environ.get("HOOKGATE_TEST_DB_OUTAGE_SECONDS", "8"))


def check(report: OutageReport) -> None:
    print(f"\n{report.summary()}")
    assert report.bad_answers == [], report.bad_answers[:5]
    assert report.statuses == {200: report.acknowledged}, "the outage never reached the ingress"
    assert report.acknowledged_during_outage > 20, "deliveries kept arriving while cut off"
    assert report.offsets_at_cut, "the consumer had committed before the cut"
    assert report.apply_retries > 0, "the consumer met the outage and retried"
    assert report.dead_letters == 0, "an unreachable database is no reason to dead-letter"
    assert not report.offsets_moved_during_outage, report.offsets_seen_during_outage
    assert not report.rows_moved_during_outage, report.rows_seen_during_outage
    # (less the deliveries in flight at the cut, applied before their 200 was counted)
    assert report.backlog_at_restore >= report.acknowledged_during_outage - LOAD_WORKERS
    assert report.missing == 0
    assert report.unexpected == 0
    assert report.stored == report.acknowledged == report.processed_events


async def test_kafka_mode_consumer_pauses_without_committing_then_catches_up(
    kafka_bootstrap: str, postgres_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    report = await kafka_mode(kafka_bootstrap, postgres_url, tmp_path, topic_prefix, OUTAGE_SECONDS)
    check(report)


async def test_embedded_mode_spool_takes_deliveries_and_applies_them_after(
    postgres_url: str, tmp_path: Path
) -> None:
    report = await embedded_mode(postgres_url, tmp_path, OUTAGE_SECONDS)
    check(report)


async def test_sources_unreadable_during_an_outage_get_the_retry_status_not_500(
    postgres_url: str, tmp_path: Path, ghl_key: Ed25519PrivateKey
) -> None:
    """Once a source's cache entry expired, the ingress cannot read it from the store:
    the answer must be the provider's retry status with Retry-After (or a 200, from
    the last known entry), never a 500 or a dropped connection.
    """
    proxy = TcpProxy("127.0.0.1", port_of(postgres_url))
    proxy.start()
    gateway = ServeProcess.on_loopback(
        tmp_path,
        **store_settings(with_port(postgres_url, proxy.port)),
        source_cache_seconds=0.5,
        ghl_public_key_ed25519=public_pem(ghl_key),
    )
    calendly = migrate_and_add_calendly(gateway)
    server = gateway.start()
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
            added = await client.post(
                "/admin/sources", json={"provider": "ghl", "tenant": "acme"}, headers=ADMIN_HEADERS
            )
            assert added.status_code == 201, added.text
            ghl = added.json()["id"]
            proxy.cut()
            await asyncio.sleep(1.0)
            answers: list[tuple[str, int | str, str | None]] = []
            for _ in range(5):
                now = datetime.now(UTC)
                for provider, source, signed in (
                    ("calendly", calendly, deliveries.calendly(now)),
                    ("ghl", ghl, deliveries.ghl(now, ghl_key)),
                ):
                    try:
                        response = await client.post(
                            f"/webhooks/{provider}/{source}",
                            content=signed.body,
                            headers=signed.headers,
                        )
                    except httpx.TransportError as exc:
                        answers.append((provider, type(exc).__name__, None))
                        continue
                    answers.append(
                        (provider, response.status_code, response.headers.get("retry-after"))
                    )
            proxy.restore()
    finally:
        server.terminate()
        proxy.close()
    print(f"\nsources unreadable: {Counter(answers)}")
    retry_status = {"calendly": 503, "ghl": 429}
    for provider, status, retry_after in answers:
        assert status == 200 or (status == retry_status[provider] and retry_after), (
            provider,
            status,
        )
