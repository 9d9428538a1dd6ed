"""`POST /webhooks/{provider}/{source_id}`: verify, normalize, make durable, answer.

The order is the contract's: size bound, source lookup, the source's rate limit,
the body read (bounded in size and in time), verification on the raw bytes,
normalization, publish; a 2xx only once the events are durable, and nothing
published for any other answer. Every non-2xx answer is kept in the rejection log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.body import BodyTooLarge, declared_too_large, read_bounded
from gateway.logs import log_delivery
from gateway.metrics import GatewayMetrics
from gateway.publish import Publisher, PublishUnavailable
from gateway.ratelimit import RateLimiter, retry_after_header
from gateway.rejections import RejectionLog
from gateway.responses import JSON, error
from gateway.source_cache import SourceCache
from schemas import BusRecord, Delivery, MalformedPayload
from verifiers import VerificationError

RETRY_AFTER_SECONDS = "30"


class WebhookEndpoint:
    """The webhook route's handler, built once with everything it needs."""

    def __init__(
        self,
        *,
        sources: SourceCache,
        providers: Collection[str],
        publisher: Publisher,
        metrics: GatewayMetrics,
        topic: Callable[[str], str],
        max_body_bytes: int,
        clock: Callable[[], datetime],
        body_timeout_seconds: float = 15.0,
        rate_limiter: RateLimiter | None = None,
        rejections: RejectionLog | None = None,
    ) -> None:
        self._sources = sources
        self._providers = frozenset(providers)
        self._publisher = publisher
        self._metrics = metrics
        self._topic = topic
        self._max_body_bytes = max_body_bytes
        self._clock = clock
        self._body_timeout = body_timeout_seconds
        self._limiter = rate_limiter or RateLimiter(0, 1)
        self.rejections = rejections or RejectionLog()

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        provider = request.path_params["provider"]
        if provider not in self._providers:
            return error(404, "unknown_source", "No source with this id exists for this provider.")
        answer = await self._handle(request, provider)
        elapsed = time.perf_counter() - started
        source_id = str(request.path_params["source_id"])
        if answer.code is not None:
            self.rejections.record(
                at=self._clock(),
                provider=provider,
                source_id=source_id,
                status=answer.response.status_code,
                code=answer.code,
                detail=answer.detail or "",
            )
        self._metrics.deliveries.labels(provider, answer.outcome).inc()
        self._metrics.request_duration.labels(provider).observe(elapsed)
        log_delivery(
            provider=provider,
            source=source_id,
            outcome=answer.outcome,
            status=answer.response.status_code,
            latency_seconds=elapsed,
            event_id=answer.event_id,
            reason=answer.code,
        )
        return answer.response

    async def _handle(self, request: Request, provider: str) -> _Answer:
        if declared_too_large(request, self._max_body_bytes):
            return _TOO_LARGE
        now = self._clock()
        source = await self._sources.resolve(request.path_params["source_id"], now=now)
        if source is None or source.provider.name != provider:
            return _reject(
                404,
                "unknown_source",
                "unknown_source",
                "No source with this id exists for this provider.",
            )
        wait = self._limiter.acquire(source.id)
        if wait is not None:
            return _reject(
                429,
                "rate_limited",
                "rate_limited",
                "This source sent more deliveries than the gateway takes per second; retry later.",
                headers={"Retry-After": retry_after_header(wait)},
            )
        try:
            async with asyncio.timeout(self._body_timeout):
                body = await read_bounded(request, self._max_body_bytes)
        except BodyTooLarge:
            return _TOO_LARGE
        except TimeoutError:
            return _reject(
                408,
                "timeout",
                "request_timeout",
                f"The request body did not arrive within {self._body_timeout:g} seconds.",
                headers={"Connection": "close"},
            )
        except ClientDisconnect:
            return _reject(
                400,
                "disconnected",
                "client_disconnected",
                "The client went away before sending the body.",
            )
        try:
            source.verifier.verify(request.headers, body, now=now)
        except VerificationError as exc:
            self._metrics.verification_failures.labels(provider, exc.code).inc()
            return _reject(401, "rejected", exc.code, exc.detail)
        try:
            normalized = source.provider.normalize(
                Delivery(
                    provider=provider,
                    source_id=source.id,
                    tenant=source.tenant,
                    headers=request.headers,
                    body=body,
                    received_at=now,
                )
            )
        except MalformedPayload as exc:
            return _reject(400, "malformed", exc.code, exc.detail)
        accepted = JSON({"id": normalized.delivery_id})
        if not normalized.events:
            return _Answer(accepted, "acknowledged", event_id=normalized.delivery_id)
        topic = self._topic(provider)
        records = [BusRecord.from_event(event, topic) for event in normalized.events]
        publish_started = time.perf_counter()
        try:
            await self._publisher.publish(records)
        except PublishUnavailable:
            return _reject(
                source.provider.retry_status,
                "unavailable",
                "unavailable",
                "The event could not be stored durably; retry later.",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        self._metrics.publish_duration.labels(provider).observe(
            time.perf_counter() - publish_started
        )
        self._metrics.events_published.labels(provider).inc(len(records))
        return _Answer(accepted, "accepted", event_id=normalized.delivery_id)


@dataclass(frozen=True, slots=True)
class _Answer:
    """A response with what it means: the outcome label, and for rejections the code."""

    response: Response
    outcome: str
    code: str | None = None
    detail: str | None = None
    event_id: str | None = None


def _reject(
    status: int, outcome: str, code: str, detail: str, headers: dict[str, str] | None = None
) -> _Answer:
    return _Answer(error(status, code, detail, headers=headers), outcome, code, detail)


_TOO_LARGE = _reject(
    413, "too_large", "body_too_large", "The request body is larger than this gateway accepts."
)
