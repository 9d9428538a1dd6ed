"""The application factory: routes, and the resources opened in `lifespan`.

`create_app(settings)` builds everything from settings; tests pass their own
`publisher`, `engine` or `clock`. Work that runs beside the ingress (the embedded
consumers, the Kafka relay, Google channel renewal) is handed in as `background`
factories by the CLI, so the gateway never imports the consumers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from gateway.admin import BearerAuth, RejectionsAdmin, SourceHook, SourcesAdmin
from gateway.admin_listener import ListenerSplit
from gateway.bus import Bus, open_bus
from gateway.health import Health
from gateway.metrics import GatewayMetrics
from gateway.providers import PROVIDERS
from gateway.publish import Publisher
from gateway.ratelimit import RateLimiter
from gateway.rejections import RejectionLog
from gateway.request_id import RequestIdMiddleware
from gateway.secretbox import SecretBox, load_keys
from gateway.settings import Settings
from gateway.source_cache import SourceCache
from gateway.sources import SourceRepository
from gateway.webhooks import WebhookEndpoint


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class GatewayContext:
    """What the running gateway holds; handed to background factories."""

    settings: Settings
    engine: AsyncEngine
    box: SecretBox
    sources: SourceRepository
    cache: SourceCache
    publisher: Publisher
    metrics: GatewayMetrics
    clock: Callable[[], datetime]
    bus: Bus | None = None
    """The spool-backed bus, unless the caller passed its own publisher."""
    rejections: RejectionLog = field(default_factory=RejectionLog)
    """Recent rejected deliveries in this process (`GET /admin/rejections`)."""
    extras: dict[str, object] = field(default_factory=dict)


Background = Callable[[GatewayContext], AbstractAsyncContextManager[object]]
AdminRoutes = Callable[[GatewayContext], Sequence[BaseRoute]]


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.database_url.startswith("sqlite"):
        return create_async_engine(settings.database_url, connect_args={"timeout": 30})
    return create_async_engine(settings.database_url, pool_size=10, max_overflow=10)


def create_app(
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    engine: AsyncEngine | None = None,
    clock: Callable[[], datetime] = utc_now,
    registry: CollectorRegistry | None = None,
    background: Sequence[Background] = (),
    admin_routes: Sequence[AdminRoutes] = (),
    on_source_remove: Sequence[Callable[[GatewayContext], SourceHook]] = (),
) -> Starlette:
    metrics = GatewayMetrics(registry or CollectorRegistry())
    box = SecretBox(
        load_keys([k.get_secret_value() for k in settings.secret_keys], settings.dev_key_path)
    )
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    admin_mount = Mount("/admin", routes=[], middleware=[Middleware(BearerAuth, token=admin_token)])
    health = Health(metrics.registry)
    routes: list[BaseRoute] = [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", health.metrics, methods=["GET"]),
        admin_mount,
    ]
    webhooks = _Deferred()
    rejections = RejectionLog(settings.rejections_kept)
    routes.insert(0, Route("/webhooks/{provider}/{source_id}", webhooks.handle, methods=["POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            db = engine or create_engine(settings)
            if engine is None:
                stack.push_async_callback(db.dispose)
            repository = SourceRepository(db, box)
            cache = SourceCache(
                repository,
                PROVIDERS,
                channel_token_keys=box.channel_token_keys,
                public_keys={
                    "rsa": (settings.ghl_public_key_rsa,),
                    "ed25519": (settings.ghl_public_key_ed25519,),
                },
                tolerances={
                    "calendly": settings.calendly_tolerance_seconds,
                    "ghl": settings.ghl_tolerance_seconds,
                },
                ttl=settings.source_cache_seconds,
            )
            bus: Bus | None = None
            if publisher is None:
                bus = await stack.enter_async_context(open_bus(settings, metrics))
            chosen = publisher or bus.publisher  # type: ignore[union-attr]
            context = GatewayContext(
                settings=settings,
                engine=db,
                box=box,
                sources=repository,
                cache=cache,
                publisher=chosen,
                metrics=metrics,
                clock=clock,
                bus=bus,
                rejections=rejections,
            )
            webhooks.endpoint = WebhookEndpoint(
                sources=cache,
                providers=PROVIDERS,
                publisher=chosen,
                metrics=metrics,
                topic=settings.topic,
                max_body_bytes=settings.max_body_bytes,
                clock=clock,
                body_timeout_seconds=settings.body_timeout_seconds,
                rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
                rejections=rejections,
            )
            admin = SourcesAdmin(
                repository=repository,
                cache=cache,
                providers=PROVIDERS,
                public_url=settings.resolved_public_url,
                secret_grace=timedelta(seconds=settings.secret_grace_seconds),
                clock=clock,
                on_remove=[hook(context) for hook in on_source_remove],
            )
            admin_mount.routes.extend(admin.routes())
            admin_mount.routes.extend(RejectionsAdmin(rejections).routes())
            for extra in admin_routes:
                admin_mount.routes.extend(extra(context))
            health.attach(db, chosen)
            app.state.context = context
            for factory in background:
                await stack.enter_async_context(factory(context))
            yield

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(ListenerSplit, admin_port=settings.admin_port),
        ],
    )


class _Deferred:
    """The webhook route's endpoint, which exists only once the lifespan opened its resources."""

    endpoint: WebhookEndpoint | None = None

    async def handle(self, request: Request) -> Response:
        if self.endpoint is None:
            raise RuntimeError("the gateway's lifespan has not started")
        return await self.endpoint(request)
