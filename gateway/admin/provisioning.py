"""A source's webhooks made at the provider, and a source disconnected.

    POST /admin/sources/{id}/webhooks    -> 200 the source (`webhooks`, `webhooks_detail`)
    POST /admin/sources/{id}/disconnect  -> 200 {"id", "status": "disconnected", ...}

Provisioning runs after every successful OAuth callback and again on request; the
provider's own code (`Connector.provision`) finds what already points at the source's
URL first, so it is idempotent. Disconnecting removes what was provisioned, revokes
the token where the provider can, forgets the credentials and marks the source
`disconnected`; every row it synced stays, and doing it again changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.admin.connectors import Connector, ProviderRefused
from gateway.admin.sources import describe
from gateway.ingress.responses import JSON, error
from gateway.ingress.source_cache import SourceCache
from gateway.store.sources import SourceRecord, SourceRepository
from schemas.tables import SOURCE_ACTIVE, SOURCE_DISCONNECTED, WEBHOOKS_NONE

log = logging.getLogger("hookgate.admin")

KEY_GRACE = timedelta(hours=1)
"""How long a replaced signing key still verifies deliveries already on their way."""


class Provisioning:
    def __init__(
        self,
        *,
        connectors: Mapping[str, Connector],
        repository: SourceRepository,
        cache: SourceCache,
        public_url: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._connectors = connectors
        self._repository = repository
        self._cache = cache
        self._public_url = public_url.rstrip("/")
        self._clock = clock

    def admin_routes(self) -> list[BaseRoute]:
        return [
            Route("/sources/{source_id}/webhooks", self.reprovision, methods=["POST"]),
            Route("/sources/{source_id}/disconnect", self.disconnect_route, methods=["POST"]),
            Route("/google/{source_id}/disconnect", self.disconnect_route, methods=["POST"]),
        ]

    def url_of(self, source: SourceRecord) -> str:
        return f"{self._public_url}/webhooks/{source.provider}/{source.id}"

    async def provision(self, source: SourceRecord) -> ProviderRefused | None:
        """Make the source's webhooks and record them; the provider's refusal, if any
        (recorded as a sentence, `webhooks` left as it was)."""
        connector = self._connectors.get(source.provider)
        if connector is None:
            return None
        try:
            made = await connector.provision(
                source.id, url=self.url_of(source), account=source.account or {}
            )
        except ProviderRefused as exc:
            log.warning("webhooks of source %s not provisioned: %s", source.id, exc.code)
            await self._repository.record_webhooks(
                source.id,
                state=source.webhooks,
                detail=f"Webhooks could not be provisioned ({exc.code}): {exc.detail}",
                subscriptions=list(source.subscriptions),
                secrets=[],
                now=self._clock(),
            )
            self._cache.invalidate(source.id)
            return exc
        if made is None:
            return None
        if made.signing_key is not None:
            await self._repository.rotate_secret(
                source.id, made.signing_key, now=self._clock(), grace=KEY_GRACE
            )
        await self._repository.record_webhooks(
            source.id,
            state=made.state,
            detail=made.detail,
            subscriptions=made.subscriptions,
            secrets=made.secrets,
            now=self._clock(),
        )
        self._cache.invalidate(source.id)
        return None

    async def reprovision(self, request: Request) -> Response:
        source = await self._repository.get(request.path_params["source_id"])
        if source is None:
            return error(404, "unknown_source", "No source with this id exists.")
        if source.status != SOURCE_ACTIVE or not source.has_credentials:
            return error(
                409,
                "source_inactive",
                f"The source is {source.status} or has no credentials: connect it first.",
            )
        refused = await self.provision(source)
        if refused is not None:
            return error(502, "provisioning_failed", refused.detail)
        current = await self._repository.get(source.id)
        return JSON(describe(current or source, self._public_url))

    async def disconnect_route(self, request: Request) -> Response:
        source = await self._repository.get(request.path_params["source_id"])
        if source is None:
            return error(404, "unknown_source", "No source with this id exists.")
        return JSON(await self.disconnect(source))

    async def disconnect(self, source: SourceRecord) -> dict[str, Any]:
        """Remove, revoke, forget; idempotent (a disconnected source has nothing left)."""
        body: dict[str, Any] = {"id": source.id, "status": SOURCE_DISCONNECTED}
        connector = self._connectors.get(source.provider)
        removed = revoked = False
        if connector is not None and source.has_credentials:
            try:
                await connector.unprovision(source.id, list(source.subscriptions))
                removed = bool(source.subscriptions) or source.webhooks != WEBHOOKS_NONE
            except ProviderRefused as exc:
                log.warning("subscriptions of source %s not removed: %s", source.id, exc.code)
                body["warning"] = f"Subscriptions could not be removed ({exc.code}): {exc.detail}"
            revoked = await connector.revoke(source.id)
        if source.status != SOURCE_DISCONNECTED or source.has_credentials:
            await self._repository.disconnect(
                source.id,
                detail="Disconnected: credentials forgotten, synced rows kept.",
                now=self._clock(),
            )
        self._cache.invalidate(source.id)
        return body | {"webhooks_removed": removed, "token_revoked": revoked}
