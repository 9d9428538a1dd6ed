"""`GET /admin/providers`: each registered provider's template (`schemas.templates`).

The events each provider's sources bring are the consumers' to say; the runtime hands
in the event types its handlers take (`event_types`), grouped here by their provider.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.ingress.providers import Provider
from gateway.ingress.responses import JSON
from schemas.templates import TEMPLATES


class ProvidersAdmin:
    def __init__(self, providers: Mapping[str, Provider], event_types: Collection[str]) -> None:
        self._body = {
            "providers": [
                TEMPLATES[name].as_json(
                    sorted(t for t in event_types if t.partition(".")[0] == name)
                )
                for name in sorted(providers)
            ]
        }

    def routes(self) -> list[BaseRoute]:
        return [Route("/providers", self.list, methods=["GET"])]

    async def list(self, request: Request) -> Response:
        return JSON(self._body)
