"""The admin API on its own listener (`HOOKGATE_ADMIN_PORT`), so it need not face the internet.

`serve` binds both ports in one process and one app; this middleware routes by
the port the connection arrived on (`scope["server"]`): the admin port serves
`/admin` and the console (`/console`) plus health and metrics, the public port serves
everything but those two.
Either answers 404 for what belongs to the other, as if it did not exist.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.ingress.responses import error

ADMIN_PREFIXES = ("/admin", "/console")
SHARED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def is_admin_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in ADMIN_PREFIXES)


class ListenerSplit:
    """ASGI middleware: with an admin port, keep `/admin` and `/console` there and only there."""

    def __init__(self, app: ASGIApp, admin_port: int | None) -> None:
        self._app = app
        self._admin_port = admin_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._admin_port is None or scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        server = scope.get("server")
        on_admin_port = server is not None and server[1] == self._admin_port
        path: str = scope["path"]
        if is_admin_path(path):
            allowed = on_admin_port
        else:
            allowed = not on_admin_port or path in SHARED_PATHS
        if allowed:
            await self._app(scope, receive, send)
            return
        response = error(404, "not_found", "Nothing is served at this path on this port.")
        await response(scope, receive, send)
