"""Limits on a gateway served like `serve`: rate per source, header size, slow-loris bounds."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.app import create_app
from gateway.ingress.ratelimit import RateLimiter
from tests.fixtures.gateway import RunningGateway, make_settings, running_gateway
from tests.fixtures.rawhttp import exchange, read_response, request_bytes
from tests.gateway import deliveries
from tests.gateway.conftest import public_pem


def test_token_bucket_refills_at_the_rate_and_caps_at_the_burst() -> None:
    now = [100.0]
    limiter = RateLimiter(2.0, 3, monotonic=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [None, None, None]
    wait = limiter.acquire("a")
    assert wait == pytest.approx(0.5)
    assert limiter.acquire("b") is None, "buckets are per key"
    now[0] += 0.5
    assert limiter.acquire("a") is None
    now[0] += 60
    assert [limiter.acquire("a") for _ in range(4)][-1] is not None, "burst caps the saving"
    assert RateLimiter(0, 1).acquire("a") is None, "rate 0 turns the limit off"


def test_wait_tells_what_acquire_would_without_taking_a_token() -> None:
    now = [100.0]
    limiter = RateLimiter(2.0, 2, monotonic=lambda: now[0])
    assert limiter.wait("a") is None, "an unseen key may go"
    assert [limiter.acquire("a") for _ in range(2)] == [None, None]
    assert limiter.wait("a") == pytest.approx(0.5)
    assert limiter.wait("a") == pytest.approx(0.5), "waiting takes nothing"
    now[0] += 0.5
    assert limiter.wait("a") is None
    assert limiter.acquire("a") is None


async def test_a_source_past_its_rate_gets_its_retry_status_with_retry_after(
    tmp_path: Path, ghl_key: Ed25519PrivateKey
) -> None:
    settings = make_settings(
        tmp_path,
        ghl_public_key_ed25519=public_pem(ghl_key),
        rate_limit_per_second=0.2,
        rate_limit_burst=3,
    )
    async with running_gateway(settings, create_app) as gw:
        busy = await gw.add_source_id("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY)
        quiet = await gw.add_source_id("calendly", tenant="beta", secret=deliveries.CALENDLY_KEY)
        statuses = []
        for _ in range(5):
            signed = deliveries.calendly(datetime.now(UTC))
            response = await gw.client.post(
                f"/webhooks/calendly/{busy}", content=signed.body, headers=signed.headers
            )
            statuses.append(response.status_code)
            last = response
        assert statuses == [200, 200, 200, 503, 503], "Calendly retries 5xx, not 429"
        assert last.json()["error"] == "rate_limited"
        assert last.json()["detail"].endswith(".")
        assert 1 <= int(last.headers["retry-after"]) <= 5
        signed = deliveries.calendly(datetime.now(UTC))
        other = await gw.client.post(
            f"/webhooks/calendly/{quiet}", content=signed.body, headers=signed.headers
        )
        assert other.status_code == 200, "another source has its own bucket"
        assert await gw.spooled() == 4, "nothing is published for a 429"
        rejections = (await gw.admin.get("/admin/rejections")).json()["rejections"]
        assert [(r["status"], r["error"]) for r in rejections] == [(503, "rate_limited")] * 2
        metrics = (await gw.client.get("/metrics")).text
        assert (
            'hookgate_deliveries_total{outcome="rate_limited",provider="calendly"} 2.0' in metrics
        )


async def test_unsigned_requests_do_not_spend_the_genuine_senders_budget(
    tmp_path: Path, ghl_key: Ed25519PrivateKey
) -> None:
    """Strangers' deliveries fail verification: they spend a budget of their own (and
    get 429 past it), never the one the source's genuine deliveries are counted on."""
    settings = make_settings(
        tmp_path,
        ghl_public_key_ed25519=public_pem(ghl_key),
        rate_limit_per_second=0.2,
        rate_limit_burst=3,
        unverified_rate_per_second=0.2,
        unverified_burst=20,
    )
    async with running_gateway(settings, create_app) as gw:
        calendly = await gw.add_source_id("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY)
        ghl = await gw.add_source_id("ghl", tenant="acme")
        for provider, source in (("calendly", calendly), ("ghl", ghl)):
            unsigned = [
                (await gw.client.post(f"/webhooks/{provider}/{source}", content=b"{}")).status_code
                for _ in range(200)
            ]
            assert unsigned[:20] == [401] * 20
            assert set(unsigned[20:]) == {429}, "strangers past their own budget get 429"
            now = datetime.now(UTC)
            signed = (
                deliveries.calendly(now) if provider == "calendly" else deliveries.ghl(now, ghl_key)
            )
            genuine = await gw.client.post(
                f"/webhooks/{provider}/{source}", content=signed.body, headers=signed.headers
            )
            assert genuine.status_code == 200, (provider, genuine.text)
        assert await gw.spooled() == 2
        refused = await gw.client.post(f"/webhooks/ghl/{ghl}", content=b"{}")
        assert refused.status_code == 429
        assert refused.json()["error"] == "unverified_rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 5


async def test_headers_over_the_bound_get_431_and_a_closed_connection(
    served: RunningGateway,
) -> None:
    limit = served.settings.max_header_bytes
    path = b"/webhooks/calendly/src_nope"
    under = await exchange(
        served.host,
        served.port,
        request_bytes(b"POST", path, [(b"X-Pad", b"a" * (limit // 2))], b"{}"),
    )
    assert under is not None
    assert under.status == 404
    for headers in (
        [(b"X-Pad", b"a" * (limit + 1))],  # one huge header
        [(b"X-Pad-%d" % i, b"b" * 100) for i in range(limit // 100 + 5)],  # many small ones
    ):
        over = await exchange(
            served.host, served.port, request_bytes(b"POST", path, headers, b"{}")
        )
        assert over is not None
        assert over.status == 431
        assert b'"error":"headers_too_large"' in over.body
        assert over.headers["connection"] == "close"
    huge_url = await exchange(
        served.host, served.port, request_bytes(b"POST", b"/webhooks/" + b"x" * 50_000, [], b"")
    )
    assert huge_url is not None
    assert huge_url.status == 431


async def _trickle(writer: asyncio.StreamWriter, data: bytes, every: float) -> None:
    for byte in data:
        if writer.is_closing():
            return
        writer.write(bytes([byte]))
        try:
            await writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(every)


async def _closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server closed the connection within `within` seconds.

    A reset counts: bytes the client was still trickling when the server closed make
    the kernel answer them with RST, so the client may see a reset instead of EOF.
    """
    try:
        rest = await asyncio.wait_for(reader.read(), within)
    except ConnectionResetError:
        return True
    return rest == b""


async def _open(served: RunningGateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(served.host, served.port)


async def test_a_trickled_body_gets_408_and_the_connection_closes(served: RunningGateway) -> None:
    source = await served.add_source_id("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY)
    signed = deliveries.calendly(datetime.now(UTC))
    headers = [(k.encode(), v.encode()) for k, v in signed.headers.items()]
    raw = request_bytes(b"POST", f"/webhooks/calendly/{source}".encode(), headers, signed.body)
    head, _, body = raw.partition(b"\r\n\r\n")
    reader, writer = await _open(served)
    started = time.monotonic()
    writer.write(head + b"\r\n\r\n")
    trickling = asyncio.create_task(_trickle(writer, body, 0.2))
    response = await asyncio.wait_for(read_response(reader), 10)
    elapsed = time.monotonic() - started
    assert response is not None
    assert response.status == 408
    assert b'"error":"request_timeout"' in response.body
    assert 0.9 <= elapsed < 3, elapsed
    assert await _closed_by_server(reader, 5), "the connection is closed"
    trickling.cancel()
    writer.close()
    assert await served.spooled() == 0


async def test_trickled_headers_get_408_and_the_connection_closes(served: RunningGateway) -> None:
    reader, writer = await _open(served)
    started = time.monotonic()
    trickling = asyncio.create_task(
        _trickle(
            writer,
            b"POST /webhooks/calendly/src_x HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"z" * 200,
            0.1,
        )
    )
    response = await asyncio.wait_for(read_response(reader), 10)
    elapsed = time.monotonic() - started
    assert response is not None
    assert response.status == 408
    assert b'"error":"request_timeout"' in response.body
    assert 0.9 <= elapsed < 3, elapsed
    assert await _closed_by_server(reader, 5)
    trickling.cancel()
    writer.close()


async def test_a_silent_connection_is_closed(served: RunningGateway) -> None:
    reader, writer = await _open(served)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert 0.9 <= time.monotonic() - started < 3
    writer.close()


async def test_a_body_still_trickling_after_an_early_answer_is_cut_off(
    served: RunningGateway,
) -> None:
    reader, writer = await _open(served)
    writer.write(
        request_bytes(b"POST", b"/webhooks/calendly/src_nope", [], b"")[:-4].replace(
            b"Content-Length: 0", b"Content-Length: 1000"
        )
        + b"\r\n\r\n"
    )
    trickling = asyncio.create_task(_trickle(writer, b"x" * 1000, 0.1))
    response = await asyncio.wait_for(read_response(reader), 10)
    assert response is not None
    assert response.status == 404
    started = time.monotonic()
    assert await _closed_by_server(reader, 10)
    assert time.monotonic() - started < 3
    trickling.cancel()
    writer.close()
