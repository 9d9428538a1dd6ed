"""The application factory: routes, and the resources opened in `lifespan`.

`create_app(settings)` builds everything from settings; tests pass their own
`publisher`, `engine` or `clock`. Work that runs beside the ingress (the embedded
consumers, the Kafka relay, Google channel renewal) is handed in as `background`
factories by the CLI, so the gateway never imports the consumers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from gateway.admin.actor import OAUTH, actor_of
from gateway.admin.audit import AuditAdmin, AuditTrail
from gateway.admin.providers import ProvidersAdmin
from gateway.admin.sources import BearerAuth, RejectionsAdmin, SourceHook, SourcesAdmin
from gateway.bus.publish import Publisher
from gateway.bus.transport import Bus, open_bus
from gateway.console.routes import ConsoleRoutes
from gateway.console.session import ConsoleSessions
from gateway.ingress.health import Health
from gateway.ingress.listeners import ListenerSplit
from gateway.ingress.metrics import GatewayMetrics
from gateway.ingress.providers import PROVIDERS
from gateway.ingress.ratelimit import RateLimiter
from gateway.ingress.rejections import RejectionLog
from gateway.ingress.request_id import RequestIdMiddleware
from gateway.ingress.source_cache import SourceCache
from gateway.ingress.webhooks import WebhookEndpoint, webhook_target
from gateway.settings import Settings
from gateway.store.audit import AuditLog
from gateway.store.engine import create_engine
from gateway.store.secretbox import SecretBox, secretbox_from
from gateway.store.sources import SourceRepository


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


Background = Callable[[GatewayContext], AbstractAsyncContextManager[object]]
AdminRoutes = Callable[[GatewayContext], Sequence[BaseRoute]]


def create_app(
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    engine: AsyncEngine | None = None,
    clock: Callable[[], datetime] = utc_now,
    registry: CollectorRegistry | None = None,
    background: Sequence[Background] = (),
    admin_routes: Sequence[AdminRoutes] = (),
    public_routes: Sequence[AdminRoutes] = (),
    on_source_remove: Sequence[Callable[[GatewayContext], SourceHook]] = (),
    event_types: Collection[str] = (),
) -> GatewayApp:
    """`event_types`: those the consumers handle, shown per provider by `/admin/providers`;
    providers with `….synced` events are the ones the console offers to sync."""
    metrics = GatewayMetrics(registry or CollectorRegistry())
    box = secretbox_from(settings)
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    rejections = RejectionLog(settings.rejections_kept)
    sessions = ConsoleSessions(
        box.channel_token_keys,
        admin_token,
        secure=settings.resolved_public_url.startswith("https://"),
        clock=clock,
    )
    console = ConsoleRoutes(
        settings,
        sessions,
        rejections,
        importable=frozenset(t.split(".", 1)[0] for t in event_types if t.endswith(".synced")),
    )
    admin_mount = Mount(
        "/admin",
        routes=[],
        middleware=[Middleware(BearerAuth, token=admin_token, sessions=sessions)],
    )
    health = Health(metrics.registry)
    routes: list[BaseRoute] = [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", health.metrics, methods=["GET"]),
        admin_mount,
        *console.routes(),
    ]
    webhooks = _Deferred()
    routes.insert(0, Route("/webhooks/{provider}/{source_id}", webhooks, methods=["POST"]))

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
                    "stripe": settings.stripe_tolerance_seconds,
                },
                ttl=settings.source_cache_seconds,
                unknown_kept=settings.unknown_sources_kept,
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
                unverified_limiter=RateLimiter(
                    settings.unverified_rate_per_second, settings.unverified_burst
                ),
                rejections=rejections,
            )
            await stack.enter_async_context(webhooks.endpoint.body_deadlines)
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
            console.attach(repository)
            admin_mount.routes.extend(ProvidersAdmin(PROVIDERS, event_types).routes())
            for extra in admin_routes:
                admin_mount.routes.extend(extra(context))
            audit = AuditLog(db, clock)
            admin_mount.routes.extend(AuditAdmin(audit).routes())
            trail = AuditTrail(audit, repository)
            admin_mount.routes[:] = trail.audited(admin_mount.routes, actor_of)
            for extra in public_routes:
                app.router.routes.extend(trail.audited(extra(context), lambda _: OAUTH))
            health.attach(db, chosen)
            app.state.context = context
            for factory in background:
                await stack.enter_async_context(factory(context))
            if isinstance(app, GatewayApp) and app.on_started is not None:
                app.on_started()
            yield

    return GatewayApp(
        webhooks,
        admin_port=settings.admin_port,
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(ListenerSplit, admin_port=settings.admin_port),
        ],
    )


class _Deferred:
    """The webhook route's endpoint (ASGI), which exists only once the lifespan opened its
    resources."""

    endpoint: WebhookEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.endpoint is None:
            raise RuntimeError("the gateway's lifespan has not started")
        params = scope["path_params"]
        await self.endpoint.serve(scope, receive, send, params["provider"], params["source_id"])


class GatewayApp(Starlette):
    """Starlette, with `POST /webhooks/{provider}/{source_id}` answered in front of it.

    The webhook route is the hot path: it skips the middleware stack and the router
    (it sets its own request id, and is never served on the admin port, as
    `ListenerSplit` would decide). Everything else, and any webhook request this does
    not take, goes through Starlette as usual.
    """

    on_started: Callable[[], None] | None = None
    """Called once the lifespan has opened everything: the process entry point
    (`gateway.runtime.asgi`) tunes the collector there. Tests leave it unset, so many
    gateways in one test process never freeze each other's heap."""

    def __init__(self, webhooks: _Deferred, *, admin_port: int | None, **options: Any) -> None:
        super().__init__(**options)
        self._webhooks = webhooks
        self._admin_port = admin_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            endpoint = self._webhooks.endpoint
            target = webhook_target(scope["path"])
            if target is not None and endpoint is not None and self._public(scope):
                await endpoint.serve(scope, receive, send, *target)
                return
        await super().__call__(scope, receive, send)

    def _public(self, scope: Scope) -> bool:
        if self._admin_port is None:
            return True
        server = scope.get("server")
        return server is None or server[1] != self._admin_port
