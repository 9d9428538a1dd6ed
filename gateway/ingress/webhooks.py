"""`POST /webhooks/{provider}/{source_id}`: verify, normalize, make durable, answer.

The order: size bound, the id's shape (ids that cannot be ids get 404 before any
lookup), source lookup, the body read (bounded in size and in time), verification
on the raw bytes, then the source's rate limit (spent only by verified deliveries:
unverifiable ones spend a separate budget of their own and get 429 past it, so
strangers never use up the genuine sender's), normalization (bound to the source:
its status, Google's live channels, GHL's location), publish; a 2xx only once the
events are durable, and nothing published for any other answer. Every answer that
asks the sender to come back later is the provider's retry status
(`gateway.ingress.providers.RetryAnswers`) with `Retry-After`, a failure of the gateway's
own included. Every non-2xx answer is kept in the rejection log.

This is the hot path, so it is plain ASGI (`serve`), called by the app in front of
Starlette's middleware and routing (`gateway.app`): headers become one dict of
lowercase names, answers are pre-built bytes where they never change, and the
metric children are looked up once per provider.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson
from starlette.types import Receive, Scope, Send

from gateway.bus.publish import Publisher, PublishUnavailable
from gateway.ingress.body import BodyDeadlines, BodyTooLarge, ClientGone, declared_too_large
from gateway.ingress.metrics import GatewayMetrics, ProviderMetrics
from gateway.ingress.providers import Provider, Refused, RetryAnswers
from gateway.ingress.ratelimit import RateLimiter, retry_after_header
from gateway.ingress.rejections import RejectionLog
from gateway.ingress.request_id import request_id_from
from gateway.ingress.source_cache import ResolvedSource, SourceCache, SourcesUnavailable
from gateway.logs import REQUEST_ID, log_delivery
from gateway.store.sources import plausible_source_id
from schemas import BusRecord, Delivery, MalformedPayload
from verifiers import VerificationError

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "30"
PREFIX = "/webhooks/"

RawHeaders = list[tuple[bytes, bytes]]


def webhook_target(path: str) -> tuple[str, str] | None:
    """`(provider, source_id)` when `path` is `/webhooks/{provider}/{source_id}`, else None."""
    if not path.startswith(PREFIX):
        return None
    provider, sep, source_id = path[len(PREFIX) :].partition("/")
    if not sep or not provider or not source_id or "/" in source_id:
        return None
    return provider, source_id


def header_dict(raw: RawHeaders) -> dict[str, str]:
    """Request headers by lowercase name; the first of repeated names wins (as Starlette's)."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key not in headers:
            headers[key] = value.decode("latin-1")
    return headers


@dataclass(frozen=True, slots=True)
class _Answer:
    """A response with what it means: the outcome label, and for rejections the code."""

    status: int
    body: bytes
    outcome: str
    code: str | None = None
    detail: str | None = None
    event_id: str | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()


def _reject(
    status: int,
    outcome: str,
    code: str,
    detail: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> _Answer:
    body = orjson.dumps({"error": code, "detail": detail})
    return _Answer(status, body, outcome, code, detail, headers=headers)


def _accept(outcome: str, delivery_id: str) -> _Answer:
    return _Answer(200, orjson.dumps({"id": delivery_id}), outcome, event_id=delivery_id)


_UNKNOWN_SOURCE = _reject(
    404, "unknown_source", "unknown_source", "No source with this id exists for this provider."
)
_TOO_LARGE = _reject(
    413, "too_large", "body_too_large", "The request body is larger than this gateway accepts."
)
_DISCONNECTED = _reject(
    400, "disconnected", "client_disconnected", "The client went away before sending the body."
)
_RETRY_AFTER = ((b"retry-after", RETRY_AFTER_SECONDS.encode()),)
_CONTENT_TYPE = (b"content-type", b"application/json")
_UNVERIFIED_LIMITED = "unverified_rate_limited"


@dataclass(frozen=True, slots=True)
class _RetryLater:
    """One provider's pre-built answers asking it to come back later."""

    unavailable: _Answer
    """The source's settings cannot be read right now."""
    not_durable: _Answer
    """Nothing could make the event durable."""
    error: _Answer
    """The gateway failed on the request."""
    throttled_status: int

    @classmethod
    def of(cls, retries: RetryAnswers) -> _RetryLater:
        return cls(
            unavailable=_reject(
                retries.unavailable,
                "unavailable",
                "unavailable",
                "The gateway cannot read this source's settings right now; retry later.",
                headers=_RETRY_AFTER,
            ),
            not_durable=_reject(
                retries.unavailable,
                "unavailable",
                "unavailable",
                "The event could not be stored durably; retry later.",
                headers=_RETRY_AFTER,
            ),
            error=_reject(
                retries.error,
                "error",
                "internal_error",
                "The gateway failed on this request; retry later.",
                headers=_RETRY_AFTER,
            ),
            throttled_status=retries.throttled,
        )


async def _respond(send: Send, answer: _Answer, request_id: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [
                _CONTENT_TYPE,
                (b"content-length", str(len(answer.body)).encode()),
                (b"x-request-id", request_id.encode()),
                *answer.headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})


class WebhookEndpoint:
    """The webhook route's handler, built once with everything it needs."""

    def __init__(
        self,
        *,
        sources: SourceCache,
        providers: Mapping[str, Provider],
        publisher: Publisher,
        metrics: GatewayMetrics,
        topic: Callable[[str], str],
        max_body_bytes: int,
        clock: Callable[[], datetime],
        body_timeout_seconds: float = 15.0,
        rate_limiter: RateLimiter | None = None,
        unverified_limiter: RateLimiter | None = None,
        rejections: RejectionLog | None = None,
    ) -> None:
        self._sources = sources
        self._providers = frozenset(providers)
        self._retry_later = {
            name: _RetryLater.of(provider.retries) for name, provider in providers.items()
        }
        self._publisher = publisher
        self._metrics = metrics
        self._topics = {provider: topic(provider) for provider in self._providers}
        self._max_body_bytes = max_body_bytes
        self._clock = clock
        self.body_deadlines = BodyDeadlines(body_timeout_seconds)
        """Enter it (`async with`) while serving, or every body read arms its own timer."""
        self._limiter = rate_limiter or RateLimiter(0, 1)
        self._unverified = unverified_limiter or RateLimiter(0, 1)
        self.rejections = rejections or RejectionLog()
        self._timed_out = _reject(
            408,
            "timeout",
            "request_timeout",
            f"The request body did not arrive within {body_timeout_seconds:g} seconds.",
            headers=((b"connection", b"close"),),
        )

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, provider: str, source_id: str
    ) -> None:
        """Answer one webhook request (ASGI), with its request id set for every log line."""
        started = time.perf_counter()
        headers = header_dict(scope["headers"])
        request_id = REQUEST_ID.get()  # set already when served through the middleware
        if request_id is None:
            given = headers.get("x-request-id")
            request_id = request_id_from(given.encode("latin-1") if given is not None else None)
        token = REQUEST_ID.set(request_id)
        try:
            metrics: ProviderMetrics | None = None
            if provider in self._providers:
                metrics = self._metrics.for_provider(provider)
                try:
                    answer = await self._handle(receive, headers, provider, source_id, metrics)
                except Exception:
                    log.exception("webhook request failed; asking the provider to retry")
                    answer = self._retry_later[provider].error
            else:
                answer = _UNKNOWN_SOURCE  # a made-up provider: no metric labels for it
            elapsed = time.perf_counter() - started
            if answer.code is not None:
                self.rejections.record(
                    at=self._clock(),
                    provider=provider,
                    source_id=source_id,
                    status=answer.status,
                    code=answer.code,
                    detail=answer.detail or "",
                )
            if metrics is not None:
                metrics.delivered(answer.outcome, elapsed)
            log_delivery(
                provider=provider,
                source=source_id,
                outcome=answer.outcome,
                status=answer.status,
                latency_seconds=elapsed,
                event_id=answer.event_id,
                reason=answer.code,
            )
            await _respond(send, answer, request_id)
        finally:
            REQUEST_ID.reset(token)

    async def _handle(
        self,
        receive: Receive,
        headers: dict[str, str],
        provider: str,
        source_id: str,
        metrics: ProviderMetrics,
    ) -> _Answer:
        if declared_too_large(headers, self._max_body_bytes):
            return _TOO_LARGE
        if not plausible_source_id(source_id):
            return _UNKNOWN_SOURCE
        retry_later = self._retry_later[provider]
        now = self._clock()
        try:
            source = await self._sources.resolve(source_id, now=now)
        except SourcesUnavailable:
            return retry_later.unavailable
        if source is None or source.provider.name != provider:
            return _UNKNOWN_SOURCE
        try:
            body = await self.body_deadlines.read(receive, self._max_body_bytes)
        except BodyTooLarge:
            return _TOO_LARGE
        except TimeoutError:
            return self._timed_out
        except ClientGone:
            return _DISCONNECTED
        try:
            source.verifier.verify(headers, body, now=now)
        except VerificationError as exc:
            metrics.verification_failed(exc.code)
            wait = self._unverified.acquire(source.id)
            if wait is not None:
                return _reject(
                    429,
                    "rate_limited",
                    _UNVERIFIED_LIMITED,
                    "Too many deliveries to this source failed verification; retry later.",
                    headers=((b"retry-after", retry_after_header(wait).encode()),),
                )
            return _reject(401, "rejected", exc.code, exc.detail)
        wait = self._limiter.acquire(source.id)
        if wait is not None:
            return _reject(
                retry_later.throttled_status,
                "rate_limited",
                "rate_limited",
                "This source sent more deliveries than the gateway takes per second; retry later.",
                headers=((b"retry-after", retry_after_header(wait).encode()),),
            )
        stale = source.provider.stale
        if stale is not None and stale(source.facts, headers):
            source = await self._reread(source, now) or source
        try:
            normalized = source.normalize(
                Delivery(
                    provider=provider,
                    source_id=source.id,
                    tenant=source.tenant,
                    headers=headers,
                    body=body,
                    received_at=now,
                )
            )
        except MalformedPayload as exc:
            return _reject(400, "malformed", exc.code, exc.detail)
        except Refused as exc:
            return _reject(403, "refused", exc.code, exc.detail)
        if not normalized.events:
            return _accept("acknowledged", normalized.delivery_id)
        topic = self._topics[provider]
        records = [BusRecord.from_event(event, topic) for event in normalized.events]
        publish_started = time.perf_counter()
        try:
            await self._publisher.publish(records)
        except PublishUnavailable:
            return retry_later.not_durable
        metrics.published(len(records), time.perf_counter() - publish_started)
        return _accept("accepted", normalized.delivery_id)

    async def _reread(self, source: ResolvedSource, now: datetime) -> ResolvedSource | None:
        """The source's entry read again (its facts looked out of date), or None while the
        store cannot be read: the entry at hand then stands."""
        try:
            return await self._sources.reload(source, now=now)
        except SourcesUnavailable:
            return None
