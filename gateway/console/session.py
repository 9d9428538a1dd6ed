"""The console's session cookie: signed, HttpOnly, SameSite=Strict, 12 hours.

The value is an itsdangerous timed signature (the keys that sign Google channel
tokens and OAuth states, the console's own salt) over a random session id and a tag
of the admin token it was opened with: changing `HOOKGATE_ADMIN_TOKEN` signs every
console out. A browser gets an anonymous session on the sign-in page, so the sign-in
form has a CSRF token too; signing in replaces it with a new id (no fixation). A
session's CSRF token is an HMAC of its id: the page carries it, a cross-site page cannot
learn it. Sessions are not stored: signing out drops the cookie, and a copied cookie
stays good until it expires or the admin token changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import CookieError, SimpleCookie

from itsdangerous import BadData
from starlette.responses import Response
from starlette.types import Scope

from gateway.admin.oauth_state import timed_serializer
from gateway.admin.sources import SessionCheck

COOKIE = "hookgate_console"
SALT = "hookgate.console.session"
CSRF_HEADER = b"x-csrf-token"
SIGNED_IN_SECONDS = 12 * 3600
ANONYMOUS_SECONDS = 3600
ANONYMOUS_LIFETIME = timedelta(seconds=ANONYMOUS_SECONDS)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    signed_in: bool


class ConsoleSessions:
    """Opens, reads and closes console sessions; their CSRF tokens."""

    def __init__(
        self,
        keys: Sequence[bytes],
        admin_token: str | None,
        *,
        secure: bool,
        clock: Callable[[], datetime],
    ) -> None:
        """`keys`: newest first (old ones still verify); `secure`: the console is
        reached over https (the cookie is then sent over https only)."""
        self._serializer = timed_serializer(keys, SALT, clock)
        self._clock = clock
        self._csrf_key = hmac.new(keys[0], b"hookgate.console.csrf", hashlib.sha256).digest()
        token = admin_token.encode() if admin_token else None
        self._token_tags = (
            tuple(hmac.new(key, token, hashlib.sha256).hexdigest()[:32] for key in keys)
            if token
            else ()
        )
        """The admin token's tag under each key (a session made before a key rotation
        still reads); sessions are written with the newest."""
        self._secure = secure

    def __repr__(self) -> str:
        return "ConsoleSessions()"

    def read(self, cookie: str | None) -> Session | None:
        """The session in `cookie`, or None when it is absent, forged, expired or
        opened with another admin token."""
        if not cookie or not self._token_tags:
            return None
        try:
            payload, signed_at = self._serializer.loads(
                cookie, max_age=SIGNED_IN_SECONDS, return_timestamp=True
            )
        except BadData:
            return None
        if not (isinstance(payload, list) and len(payload) == 3):
            return None
        session_id, signed_in, tag = payload
        if not (isinstance(session_id, str) and isinstance(signed_in, bool)):
            return None
        if signed_in and not any(hmac.compare_digest(str(tag), t) for t in self._token_tags):
            return None
        if not signed_in and self._clock() - signed_at > ANONYMOUS_LIFETIME:
            return None
        return Session(session_id, signed_in)

    def of(self, scope: Scope) -> Session | None:
        """The session of a request, from its cookie header."""
        raw = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
        cookies = SimpleCookie()
        try:
            cookies.load(raw)
        except CookieError:  # a garbled cookie header is no session
            return None
        morsel = cookies.get(COOKIE)
        return self.read(morsel.value if morsel else None)

    @staticmethod
    def start(*, signed_in: bool) -> Session:
        """A new session with a new id (its cookie set by `remember`)."""
        return Session(secrets.token_urlsafe(24), signed_in)

    def remember(self, response: Response, session: Session) -> None:
        """Set `session`'s cookie on `response`."""
        value = self._serializer.dumps(
            [session.id, session.signed_in, self._token_tags[0] if self._token_tags else ""]
        )
        response.set_cookie(
            COOKIE,
            str(value),
            max_age=SIGNED_IN_SECONDS if session.signed_in else ANONYMOUS_SECONDS,
            path="/",
            secure=self._secure,
            httponly=True,
            samesite="strict",
        )

    def close(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE, path="/", secure=self._secure, httponly=True, samesite="strict"
        )

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.id.encode(), hashlib.sha256).hexdigest()

    def csrf_matches(self, session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf_token(session), given or "")

    def check(self, scope: Scope) -> SessionCheck:
        """For the admin API: a signed-in session, and for a change its CSRF header."""
        session = self.of(scope)
        if session is None or not session.signed_in:
            return SessionCheck.ABSENT
        if scope["method"] in SAFE_METHODS:
            return SessionCheck.ADMITTED
        given = dict(scope["headers"]).get(CSRF_HEADER, b"").decode("latin-1")
        if self.csrf_matches(session, given):
            return SessionCheck.ADMITTED
        return SessionCheck.CSRF_REFUSED
