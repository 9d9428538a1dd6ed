"""`POST /webhooks/{provider}/{source_id}`: verify, normalize, make durable, answer.

The order is the contract's: size bound, source lookup, the source's rate limit,
the body read (bounded in size and in time), verification on the raw bytes,
normalization, publish; a 2xx only once the events are durable, and nothing
published for any other answer. Every non-2xx answer is kept in the rejection log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from datetime import datetime

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.body import BodyTooLarge, declared_too_large, read_bounded
from gateway.metrics import GatewayMetrics
from gateway.publish import Publisher, PublishUnavailable
from gateway.ratelimit import RateLimiter, retry_after_header
from gateway.rejections import RejectionLog
from gateway.responses import JSON, error
from gateway.source_cache import SourceCache
from schemas import BusRecord, Delivery, MalformedPayload
from verifiers import VerificationError

log = logging.getLogger("hookgate.webhooks")

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
        response, outcome = await self._handle(request, provider)
        if response.status_code >= 400:
            self._remember(request, provider, response)
        if outcome != "unknown_source" or provider in ("google", "calendly", "pco", "ghl"):
            self._metrics.deliveries.labels(provider, outcome).inc()
            self._metrics.request_duration.labels(provider).observe(time.perf_counter() - started)
        return response

    async def _handle(self, request: Request, provider: str) -> tuple[Response, str]:
        if declared_too_large(request, self._max_body_bytes):
            return self._too_large(), "too_large"
        now = self._clock()
        source = await self._sources.resolve(request.path_params["source_id"], now=now)
        if source is None or source.provider.name != provider:
            return error(
                404, "unknown_source", "No source with this id exists for this provider."
            ), "unknown_source"
        wait = self._limiter.acquire(source.id)
        if wait is not None:
            return error(
                429,
                "rate_limited",
                "This source sent more deliveries than the gateway takes per second; retry later.",
                headers={"Retry-After": retry_after_header(wait)},
            ), "rate_limited"
        try:
            async with asyncio.timeout(self._body_timeout):
                body = await read_bounded(request, self._max_body_bytes)
        except BodyTooLarge:
            return self._too_large(), "too_large"
        except TimeoutError:
            return error(
                408,
                "request_timeout",
                f"The request body did not arrive within {self._body_timeout:g} seconds.",
                headers={"Connection": "close"},
            ), "timeout"
        except ClientDisconnect:
            return error(
                400, "client_disconnected", "The client went away before sending the body."
            ), "disconnected"
        try:
            source.verifier.verify(request.headers, body, now=now)
        except VerificationError as exc:
            self._metrics.verification_failures.labels(provider, exc.code).inc()
            log.info(
                "delivery rejected",
                extra={"provider": provider, "source": source.id, "reason": exc.code},
            )
            return error(401, exc.code, exc.detail), "rejected"
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
            return error(400, exc.code, exc.detail), "malformed"
        if not normalized.events:
            return JSON({"id": normalized.delivery_id}), "acknowledged"
        topic = self._topic(provider)
        records = [BusRecord.from_event(event, topic) for event in normalized.events]
        publish_started = time.perf_counter()
        try:
            await self._publisher.publish(records)
        except PublishUnavailable:
            log.warning(
                "delivery not durable; asking the provider to retry",
                extra={"provider": provider, "source": source.id},
            )
            return error(
                source.provider.retry_status,
                "unavailable",
                "The event could not be stored durably; retry later.",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            ), "unavailable"
        self._metrics.publish_duration.labels(provider).observe(
            time.perf_counter() - publish_started
        )
        self._metrics.events_published.labels(provider).inc(len(records))
        return JSON({"id": normalized.delivery_id}), "accepted"

    def _remember(self, request: Request, provider: str, response: Response) -> None:
        try:
            answer = orjson.loads(bytes(response.body))
        except orjson.JSONDecodeError:
            answer = {}
        self.rejections.record(
            at=self._clock(),
            provider=provider,
            source_id=str(request.path_params.get("source_id", "")),
            status=response.status_code,
            code=str(answer.get("error", "")),
            detail=str(answer.get("detail", "")),
        )

    @staticmethod
    def _too_large() -> Response:
        return error(413, "body_too_large", "The request body is larger than this gateway accepts.")
