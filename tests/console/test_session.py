"""The console's session cookie, without a browser: what it admits and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.responses import Response

from gateway.admin.sources import SessionCheck
from gateway.console.session import COOKIE, ConsoleSessions, Session
from gateway.store.secretbox import SecretBox
from tests.fixtures.gateway import ADMIN_TOKEN, SECRET_KEYS, FrozenClock

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
KEYS = SecretBox(list(SECRET_KEYS)).channel_token_keys


def sessions(
    clock: FrozenClock, *, token: str = ADMIN_TOKEN, keys: tuple[bytes, ...] = KEYS
) -> ConsoleSessions:
    return ConsoleSessions(keys, token, secure=True, clock=clock)


def issued(made: ConsoleSessions, session: Session) -> str:
    """The cookie value and the Set-Cookie header of `session`."""
    response = Response()
    made.remember(response, session)
    header = response.headers["set-cookie"]
    return header.split(";")[0].removeprefix(f"{COOKIE}=")


def request(cookie: str, method: str = "POST", csrf: str | None = None) -> dict[str, object]:
    headers = [(b"cookie", f"{COOKIE}={cookie}".encode())]
    if csrf is not None:
        headers.append((b"x-csrf-token", csrf.encode()))
    return {"type": "http", "method": method, "headers": headers}


def test_the_cookie_is_secure_on_https_and_lasts_twelve_hours() -> None:
    made = sessions(FrozenClock(T0))
    response = Response()
    made.remember(response, made.start(signed_in=True))
    flags = {part.strip().lower() for part in response.headers["set-cookie"].split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/", "max-age=43200"} <= flags


def test_a_session_expires_after_twelve_hours() -> None:
    clock = FrozenClock(T0)
    made = sessions(clock)
    session = made.start(signed_in=True)
    cookie = issued(made, session)
    clock.now = T0 + timedelta(hours=11, minutes=59)
    assert made.read(cookie) == session
    clock.now = T0 + timedelta(hours=12, seconds=1)
    assert made.read(cookie) is None


def test_another_admin_token_or_a_forged_cookie_is_no_session() -> None:
    clock = FrozenClock(T0)
    cookie = issued(sessions(clock), Session("abc", signed_in=True))
    assert sessions(clock, token="a-new-admin-token").read(cookie) is None
    assert sessions(clock).read(cookie[:-2] + "xx") is None
    assert sessions(clock, keys=KEYS[1:]).read(cookie) is None


def test_a_session_signed_with_an_older_key_still_reads() -> None:
    clock = FrozenClock(T0)
    session = Session("abc", signed_in=True)
    cookie = issued(sessions(clock, keys=KEYS[1:]), session)
    assert sessions(clock).read(cookie) == session


def test_a_change_needs_the_sessions_csrf_token() -> None:
    made = sessions(FrozenClock(T0))
    session = made.start(signed_in=True)
    cookie = issued(made, session)
    token = made.csrf_token(session)
    assert made.check(request(cookie, "GET")) is SessionCheck.ADMITTED
    assert made.check(request(cookie, "POST", token)) is SessionCheck.ADMITTED
    assert made.check(request(cookie, "POST")) is SessionCheck.CSRF_REFUSED
    other = made.csrf_token(made.start(signed_in=True))
    assert made.check(request(cookie, "DELETE", other)) is SessionCheck.CSRF_REFUSED


def test_an_anonymous_session_admits_nothing() -> None:
    made = sessions(FrozenClock(T0))
    session = made.start(signed_in=False)
    cookie = issued(made, session)
    assert made.check(request(cookie, "POST", made.csrf_token(session))) is SessionCheck.ABSENT
