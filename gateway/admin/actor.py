"""Who made an admin request, as the audit log records it.

A request with the bearer token is the `admin`; the console's middleware marks the
requests it makes for a signed-in operator with `scope["hookgate.actor"] = "console"`.
"""

from __future__ import annotations

from starlette.requests import Request

ACTOR_KEY = "hookgate.actor"
"""The ASGI scope key naming the actor of a request."""

ADMIN = "admin"
CONSOLE = "console"
CLI = "cli"
OAUTH = "oauth"


def actor_of(request: Request) -> str:
    """`console` when the console made the request, `admin` for the bearer token."""
    actor = request.scope.get(ACTOR_KEY, ADMIN)
    return actor if isinstance(actor, str) else ADMIN
