"""`/console`: sign in and out, the source cards, recent rejections, dead letters.

The pages only read; every change is made by the page's script through the admin API
(`/admin/...`) with the session cookie and the CSRF token the page carries. The forms
posted here (sign-in, sign-out) carry that token too.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.console.pages import page, refused
from gateway.console.session import ConsoleSessions, Session
from gateway.console.views import cards_by_tenant
from gateway.ingress.ratelimit import RateLimiter, retry_after_header
from gateway.ingress.rejections import RejectionLog
from gateway.settings import Settings
from gateway.store.sources import SourceRepository

CLIENT_ID = "_client_id"
MAX_FORM_BYTES = 4096
SIGN_IN_RATE = 0.2
SIGN_IN_BURST = 10
"""Failed sign-ins per client address: 10 at once, then one every 5 seconds; past them
every attempt is refused (429) until the budget refills."""
STATIC = Path(__file__).parent / "static"


class ConsoleRoutes:
    def __init__(
        self,
        settings: Settings,
        sessions: ConsoleSessions,
        rejections: RejectionLog,
        *,
        importable: frozenset[str] = frozenset(),
    ) -> None:
        """`importable`: the providers with an import (`POST /admin/sources/{id}/sync`)."""
        token = settings.admin_token
        self._token = token.get_secret_value().encode() if token else None
        self._sessions = sessions
        self._rejections = rejections
        self._connectable = frozenset(
            name.removesuffix(CLIENT_ID)
            for name, value in settings
            if name.endswith(CLIENT_ID) and value
        )
        """Providers whose OAuth app is configured (`HOOKGATE_{P}_CLIENT_ID`): the ones
        `POST /admin/connect/{provider}` can start."""
        self._importable = importable
        self._failures = RateLimiter(SIGN_IN_RATE, SIGN_IN_BURST)
        self._repository: SourceRepository | None = None

    def attach(self, repository: SourceRepository) -> None:
        """Given the store once the lifespan opened it."""
        self._repository = repository

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/console", self.dashboard, methods=["GET"]),
            Mount(
                "/console",
                routes=[
                    Route("/sign-in", self.sign_in_page, methods=["GET"]),
                    Route("/sign-in", self.sign_in, methods=["POST"]),
                    Route("/sign-out", self.sign_out, methods=["POST"]),
                    Route("/rejections", self.rejections, methods=["GET"]),
                    Route("/dead-letters", self.dead_letters, methods=["GET"]),
                    Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
                ],
            ),
        ]

    def _operator(self, request: Request) -> Session | Response:
        """The signed-in session of a page's request, or where to send the browser."""
        session = self._sessions.of(request.scope)
        if session is not None and session.signed_in:
            return session
        return _bounce(request) or RedirectResponse("/console/sign-in", status_code=303)

    async def _posted(self, request: Request, session: Session | None) -> dict[str, str] | None:
        """The form posted with `session`'s CSRF token, or None (no session, no form, no
        or another token)."""
        form = await _form(request)
        if form is None or session is None:
            return None
        return form if self._sessions.csrf_matches(session, form.get("csrf")) else None

    async def dashboard(self, request: Request) -> Response:
        session = self._operator(request)
        if isinstance(session, Response):
            return session
        if self._repository is None:
            raise RuntimeError("the gateway's lifespan has not started")
        found = await self._repository.list()
        ids = [source.id for source in found]
        tenants = cards_by_tenant(
            found,
            await self._repository.last_syncs(ids),
            await self._repository.channel_expiries(ids),
            self._connectable,
            self._importable,
        )
        return page(
            "dashboard.html",
            csrf=self._sessions.csrf_token(session),
            tenants=tenants,
            connectable=sorted(self._connectable),
            connected=request.query_params.get("status"),
        )

    async def rejections(self, request: Request) -> Response:
        session = self._operator(request)
        if isinstance(session, Response):
            return session
        return page(
            "rejections.html",
            csrf=self._sessions.csrf_token(session),
            rejections=self._rejections.recent(None),
        )

    async def dead_letters(self, request: Request) -> Response:
        session = self._operator(request)
        if isinstance(session, Response):
            return session
        return page("dead_letters.html", csrf=self._sessions.csrf_token(session))

    async def sign_in_page(self, request: Request) -> Response:
        if self._token is None:
            return _console_off()
        session = self._sessions.of(request.scope)
        if session is not None and session.signed_in:
            return RedirectResponse("/console", status_code=303)
        if session is None and (bounced := _bounce(request)) is not None:
            return bounced  # not a new anonymous cookie over a signed-in one it cannot see
        fresh = session is None
        session = session or self._sessions.start(signed_in=False)
        response = page("sign_in.html", csrf=self._sessions.csrf_token(session))
        if fresh:
            self._sessions.remember(response, session)
        return response

    async def sign_in(self, request: Request) -> Response:
        if self._token is None:
            return _console_off()
        session = self._sessions.of(request.scope)
        form = await self._posted(request, session)
        if form is None or session is None:
            return _csrf_refused()
        client = request.client.host if request.client else "-"
        wait = self._failures.wait(client)
        if wait is not None:
            refusal = refused(
                "Too many attempts", "Too many failed sign-ins: wait a little and try again.", 429
            )
            refusal.headers["Retry-After"] = retry_after_header(wait)
            return refusal
        if not hmac.compare_digest(form.get("token", "").encode(), self._token):
            self._failures.acquire(client)
            return page(
                "sign_in.html",
                401,
                csrf=self._sessions.csrf_token(session),
                problem="That is not the admin token.",
            )
        response = RedirectResponse("/console", status_code=303)
        self._sessions.remember(response, self._sessions.start(signed_in=True))
        return response

    async def sign_out(self, request: Request) -> Response:
        session = self._sessions.of(request.scope)
        if await self._posted(request, session) is None:
            return _csrf_refused()
        response = RedirectResponse("/console/sign-in", status_code=303)
        self._sessions.close(response)
        return response


def _bounce(request: Request) -> Response | None:
    """For a page reached from another site without a session: the browser keeps the
    SameSite=Strict cookie back on such a navigation (the way back from a provider's
    consent page), so the page reloads itself, from this site, cookie and all."""
    if request.headers.get("sec-fetch-site") != "cross-site":
        return None
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return page("bounce.html", here=here)


async def _form(request: Request) -> dict[str, str] | None:
    """A small urlencoded form's fields (first value of each), or None if it is not one."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode(), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


def _csrf_refused() -> Response:
    return refused(
        "Refused",
        "This form is missing its CSRF token or it has expired: reload the page and try again.",
        403,
    )


def _console_off() -> Response:
    return refused("Console off", "The console is off: HOOKGATE_ADMIN_TOKEN is not set.", 503)
