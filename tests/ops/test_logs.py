"""Request ids reach every log line of their request; one JSON line per delivery."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.ingress.request_id import RequestIdMiddleware
from gateway.logs import REQUEST_ID, JsonFormatter, log_delivery


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(orjson.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger("hookgate")
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def _hello(request: Request) -> PlainTextResponse:
    logging.getLogger("hookgate.test").info("handling")
    return PlainTextResponse("hi")


def _client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/", _hello)], middleware=[Middleware(RequestIdMiddleware)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_callers_request_id_is_kept_logged_and_echoed(lines: Lines) -> None:
    async with _client() as client:
        response = await client.get("/", headers={"X-Request-ID": "lb-42.abc"})
    assert response.headers["x-request-id"] == "lb-42.abc"
    assert lines.lines[-1]["request_id"] == "lb-42.abc"
    assert REQUEST_ID.get() is None


async def test_a_missing_or_unsafe_request_id_is_replaced(lines: Lines) -> None:
    async with _client() as client:
        first = await client.get("/")
        unsafe = await client.get("/", headers={"X-Request-ID": 'a b"<script>' + "x" * 200})
    ids = [first.headers["x-request-id"], unsafe.headers["x-request-id"]]
    assert all(len(value) == 32 and value.isalnum() for value in ids)
    assert ids[0] != ids[1]
    assert [line["request_id"] for line in lines.lines] == ids


def test_one_delivery_line_has_the_fields_on_call_needs(lines: Lines) -> None:
    token = REQUEST_ID.set("req-1")
    try:
        log_delivery(
            provider="calendly",
            source="src_1",
            outcome="rejected",
            status=401,
            latency_seconds=0.0123456,
            reason="invalid_signature",
        )
    finally:
        REQUEST_ID.reset(token)
    line = lines.lines[-1]
    assert line["message"] == "delivery"
    assert line["level"] == "info"
    assert {k: line[k] for k in ("provider", "source", "outcome", "status", "reason")} == {
        "provider": "calendly",
        "source": "src_1",
        "outcome": "rejected",
        "status": 401,
        "reason": "invalid_signature",
    }
    assert line["latency_ms"] == 12.346
    assert line["request_id"] == "req-1"
    assert "event_id" not in line


def test_an_unavailable_delivery_is_a_warning_with_its_event_id(lines: Lines) -> None:
    log_delivery(
        provider="ghl",
        source="src_2",
        outcome="unavailable",
        status=429,
        latency_seconds=2.0,
        event_id="evt-9",
    )
    assert lines.lines[-1]["level"] == "warning"
    assert lines.lines[-1]["event_id"] == "evt-9"
