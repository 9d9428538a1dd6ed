"""`POST /webhooks/{provider}/{source_id}`: verify, normalize, make durable, answer.

The order is the contract's: size bound, source lookup, verification on the raw
bytes, normalization, publish; a 2xx only once the events are durable, and
nothing published for any other answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from gateway.body import BodyTooLarge, declared_too_large, read_bounded
from gateway.metrics import GatewayMetrics
from gateway.publish import Publisher, PublishUnavailable
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
    ) -> None:
        self._sources = sources
        self._providers = frozenset(providers)
        self._publisher = publisher
        self._metrics = metrics
        self._topic = topic
        self._max_body_bytes = max_body_bytes
        self._clock = clock

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        provider = request.path_params["provider"]
        response, outcome = await self._handle(request, provider)
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
        try:
            body = await read_bounded(request, self._max_body_bytes)
        except BodyTooLarge:
            return self._too_large(), "too_large"
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

    @staticmethod
    def _too_large() -> Response:
        return error(413, "body_too_large", "The request body is larger than this gateway accepts.")
