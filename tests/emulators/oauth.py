"""One OAuth 2.0 authorization server, configured per provider, for the emulators.

It serves the authorization-code grant (RFC 6749 §4.1) with PKCE (RFC 7636), the
refresh-token grant with or without rotation, and revocation (RFC 7009) where the
provider has it. What differs between providers is one `OAuthProvider` value (facts
and sources in /work/shared/provider-apis.md); the API emulators use
`PCO_OAUTH`, `GHL_OAUTH`, `CALENDLY_OAUTH`, `GOOGLE_OAUTH` from oauth_providers.py.

Consent is decided by the test beforehand (`approve(account)` or `deny()`); with no
decision `/authorize` shows a small page to choose one (the development mode). Access
tokens go into a `TokenRegistry` (tokens.py) that the API emulators consult, so a token names the
account (user and organization, location or calendar owner) it acts for.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tests.emulators.faults import Faults
from tests.emulators.oauth_providers import OAuthProvider
from tests.emulators.ratelimit import FixedWindowLimiter
from tests.emulators.tokens import AccessToken, Clock, OAuthAccount, TokenRegistry, utc_now


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: frozenset[str] | None
    """None: any redirect URI (a test that learns its port late)."""


@dataclass
class _Code:
    client_id: str
    redirect_uri: str | None
    account: OAuthAccount
    scopes: frozenset[str]
    challenge: str | None
    expires_at: datetime
    offline: bool
    family: str
    used: bool = False


@dataclass
class _Refresh:
    client_id: str
    account: OAuthAccount
    scopes: frozenset[str]
    family: str
    valid: bool = True


@dataclass
class OAuthCounters:
    authorize_requests: int = 0
    token_requests: dict[str, int] = field(default_factory=dict)
    """By `grant_type` as sent."""
    refreshes: dict[str, int] = field(default_factory=dict)
    """Successful refresh-token grants by account user id."""
    invalid_grant: int = 0
    invalid_client: int = 0
    rate_limited: int = 0
    revocations: int = 0


def _oauth_error(status: int, error: str, description: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", **headers},
    )


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


async def read_form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[0] for name, values in parse_qs(body).items()}


class OAuthServer:
    """The authorization and token endpoints of one provider, with its test controls."""

    def __init__(
        self,
        provider: OAuthProvider,
        registry: TokenRegistry,
        *,
        now: Clock = utc_now,
        token_fields: Callable[[OAuthAccount], Mapping[str, Any]] | None = None,
    ) -> None:
        self.provider = provider
        self.registry = registry
        self._now = now
        self._token_fields = token_fields or (lambda _account: {})
        self.clients: dict[str, OAuthClient] = {}
        self.accounts: dict[str, OAuthAccount] = {}
        self.consent: OAuthAccount | Literal["deny"] | None = None
        """The answer to the next authorization requests (None: ask on a page)."""
        self.revoke_family_on_reuse = False
        """RFC 9700 §4.14.2: a reused rotated refresh token also kills the live one."""
        self.authorize_log: list[dict[str, str]] = []
        """The query of every authorization request, in order."""
        self.counters = OAuthCounters()
        self.token_faults = Faults()
        """Injected answers of the token endpoint (a provider outage, a 5xx)."""
        self._codes: dict[str, _Code] = {}
        self._refresh_tokens: dict[str, _Refresh] = {}
        self._granted: set[tuple[str, str]] = set()
        self._pending: dict[str, dict[str, str]] = {}
        self._families = itertools.count(1)
        per_minute = provider.token_requests_per_minute
        self.token_limiter = (
            FixedWindowLimiter(per_minute, 60, now) if per_minute is not None else None
        )

    # ---- test controls ---------------------------------------------------------

    def add_client(
        self, client_id: str, client_secret: str, redirect_uris: Iterable[str] | None = None
    ) -> OAuthClient:
        client = OAuthClient(
            client_id, client_secret, None if redirect_uris is None else frozenset(redirect_uris)
        )
        self.clients[client_id] = client
        return client

    def add_account(self, account: OAuthAccount) -> OAuthAccount:
        self.accounts[account.user_id] = account
        return account

    def approve(self, account: OAuthAccount) -> None:
        """The next authorization requests are approved by `account`."""
        self.add_account(account)
        self.consent = account

    def deny(self) -> None:
        """The next authorization requests are denied (`error=access_denied`)."""
        self.consent = "deny"

    def grant(
        self, client_id: str, account: OAuthAccount, scopes: Iterable[str] | None = None
    ) -> tuple[str, str]:
        """A refresh and access token as if `account` had connected (no HTTP)."""
        granted = frozenset(scopes) if scopes is not None else self.provider.scopes
        family = f"f{next(self._families)}"
        refresh = self._new_refresh(client_id, account, granted, family)
        access = self._new_access(client_id, account, granted, family)
        return refresh, access.token

    def revoke_refresh_token(self, refresh_token: str) -> None:
        """As if the user revoked the app: the refresh token and its access tokens die."""
        entry = self._refresh_tokens[refresh_token]
        entry.valid = False
        self.registry.revoke_family(entry.family)

    def refresh_token_valid(self, refresh_token: str) -> bool:
        entry = self._refresh_tokens.get(refresh_token)
        return entry is not None and entry.valid

    def live_refresh_tokens(self, user_id: str | None = None) -> list[str]:
        return [
            token
            for token, entry in self._refresh_tokens.items()
            if entry.valid and user_id in (None, entry.account.user_id)
        ]

    # ---- endpoints -------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.counters.authorize_requests += 1
        self.authorize_log.append(params)
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None:
            return HTMLResponse("<p>Unknown client_id.</p>", status_code=400)
        if not redirect_uri or (
            client.redirect_uris is not None and redirect_uri not in client.redirect_uris
        ):
            return HTMLResponse("<p>redirect_uri is not registered.</p>", status_code=400)
        problem = self._authorize_problem(params)
        if problem is not None:
            return self._redirect(params, {"error": problem[0], "error_description": problem[1]})
        if self.consent is None:
            return self._consent_page(params)
        return self._decide(params, self.consent)

    async def decide(self, request: Request) -> Response:
        """The consent page's answer (development mode)."""
        params = self._pending.pop(request.query_params.get("request", ""), None)
        if params is None:
            return HTMLResponse("<p>This authorization request is gone.</p>", status_code=400)
        account = self.accounts.get(request.query_params.get("account", ""))
        return self._decide(params, account or "deny")

    async def token(self, request: Request) -> Response:
        form = await read_form(request)
        grant_type = form.get("grant_type", "")
        counts = self.counters.token_requests
        counts[grant_type] = counts.get(grant_type, 0) + 1
        fault = self.token_faults.next()
        if fault is not None:
            return fault
        client = self._authenticate(request, form)
        if isinstance(client, Response):
            return client
        if grant_type == "authorization_code":
            return self._exchange_code(client, form)
        if grant_type == "refresh_token":
            return self._refresh(client, form)
        return _oauth_error(
            400, "unsupported_grant_type", f"Unsupported grant_type {grant_type!r}."
        )

    async def revoke(self, request: Request) -> Response:
        form = await read_form(request)
        token = form.get("token", "")
        self.counters.revocations += 1
        refresh = self._refresh_tokens.get(token)
        if refresh is not None:
            self.revoke_refresh_token(token)
            return Response(status_code=200)
        access = self.registry.tokens.get(token)
        if access is not None and access.provider == self.provider.name:
            if access.refresh_family is not None and self.provider.name == "google":
                # Google: revoking an access token revokes its refresh token too.
                for value, entry in self._refresh_tokens.items():
                    if entry.family == access.refresh_family:
                        self.revoke_refresh_token(value)
            self.registry.revoke(token)
            return Response(status_code=200)
        if self.provider.name == "google":
            return _oauth_error(400, "invalid_token", "Token expired or revoked")
        return Response(status_code=200)  # RFC 7009 §2.2: an unknown token is not an error

    # ---- internals -------------------------------------------------------------

    def _authorize_problem(self, params: Mapping[str, str]) -> tuple[str, str] | None:
        if params.get("response_type") != "code":
            return "unsupported_response_type", "response_type must be code."
        requested = params.get("scope", "").split()
        if not requested and self.provider.scope_required:
            return "invalid_request", "Missing required parameter: scope."
        unknown = [scope for scope in requested if scope not in self.provider.scopes]
        if unknown:
            return "invalid_scope", f"Unknown scope {unknown[0]!r}."
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method", "plain" if challenge else None)
        if self.provider.pkce == "required" and not challenge:
            return "invalid_request", "code_challenge is required."
        if challenge and self.provider.pkce != "ignored" and method != "S256":
            return "invalid_request", "code_challenge_method must be S256."
        return None

    def _redirect(self, params: Mapping[str, str], answer: dict[str, str]) -> Response:
        if "state" in params:
            answer["state"] = params["state"]
        return RedirectResponse(with_query(params["redirect_uri"], answer), status_code=302)

    def _decide(self, params: Mapping[str, str], consent: OAuthAccount | str) -> Response:
        if not isinstance(consent, OAuthAccount):
            return self._redirect(
                params, {"error": "access_denied", "error_description": "The user denied access."}
            )
        self.add_account(consent)
        requested = frozenset(params.get("scope", "").split()) or self.provider.scopes
        code = secrets.token_urlsafe(24)
        offline = not self.provider.offline_access or params.get("access_type") == "offline"
        if self.provider.offline_access and offline:
            key = (params["client_id"], consent.user_id)
            offline = key not in self._granted or params.get("prompt") == "consent"
            self._granted.add(key)
        self._codes[code] = _Code(
            client_id=params["client_id"],
            redirect_uri=params.get("redirect_uri"),
            account=consent,
            scopes=requested,
            challenge=params.get("code_challenge") if self.provider.pkce != "ignored" else None,
            expires_at=self._now() + timedelta(seconds=self.provider.code_seconds),
            offline=offline,
            family=f"f{next(self._families)}",
        )
        return self._redirect(params, {"code": code})

    def _consent_page(self, params: Mapping[str, str]) -> Response:
        request_id = secrets.token_urlsafe(12)
        self._pending[request_id] = dict(params)
        choices = "".join(
            f'<li><a href="decide?request={request_id}&amp;account={html.escape(user_id)}">'
            f"Approve as {html.escape(account.name or user_id)}"
            f" ({html.escape(account.organization_id)})</a></li>"
            for user_id, account in self.accounts.items()
        )
        return HTMLResponse(
            f"<h1>{html.escape(self.provider.name)} emulator: authorize "
            f"{html.escape(params['client_id'])}?</h1><ul>{choices}"
            f'<li><a href="decide?request={request_id}&amp;account=">Deny</a></li></ul>'
        )

    def _authenticate(self, request: Request, form: dict[str, str]) -> OAuthClient | Response:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            if "basic" not in self.provider.client_auth or "client_secret" in form:
                return self._invalid_client("Client authentication by HTTP Basic is not accepted.")
            try:
                decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
            except ValueError:
                return self._invalid_client("Malformed Basic credentials.")
            client_id, _, secret = decoded.partition(":")
        else:
            if "body" not in self.provider.client_auth:
                return self._invalid_client("Client authentication by HTTP Basic is required.")
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, secret):
            return self._invalid_client("The client credentials are wrong.")
        return client

    def _invalid_client(self, description: str) -> Response:
        self.counters.invalid_client += 1
        return _oauth_error(401, "invalid_client", description)

    def _invalid_grant(self, description: str) -> Response:
        self.counters.invalid_grant += 1
        return _oauth_error(400, "invalid_grant", description)

    def _rate_limited(self, account: OAuthAccount) -> Response | None:
        if self.token_limiter is None:
            return None
        decision = self.token_limiter.hit(account.user_id)
        if decision.allowed:
            return None
        self.counters.rate_limited += 1
        return JSONResponse(
            {
                "title": "Too Many Requests",
                "message": "Only 8 OAuth tokens per user can be requested within 1 minute.",
            },
            status_code=429,
            headers={"Retry-After": decision.retry_after},
        )

    def _exchange_code(self, client: OAuthClient, form: dict[str, str]) -> Response:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.client_id != client.client_id:
            return self._invalid_grant("The authorization code is invalid.")
        limited = self._rate_limited(code.account)
        if limited is not None:
            return limited
        if code.used:
            # RFC 6749 §4.1.2: a reused code revokes what it was exchanged for.
            self.registry.revoke_family(code.family)
            for entry in self._refresh_tokens.values():
                if entry.family == code.family:
                    entry.valid = False
            return self._invalid_grant("The authorization code was already used.")
        if code.expires_at <= self._now():
            return self._invalid_grant("The authorization code has expired.")
        if code.redirect_uri is not None and form.get("redirect_uri") != code.redirect_uri:
            return self._invalid_grant("redirect_uri does not match the authorization request.")
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier or not secrets.compare_digest(pkce_challenge(verifier), code.challenge):
                return self._invalid_grant("The code_verifier does not match the challenge.")
        code.used = True
        refresh = (
            self._new_refresh(client.client_id, code.account, code.scopes, code.family)
            if code.offline
            else None
        )
        return self._token_response(client, code.account, code.scopes, code.family, refresh)

    def _refresh(self, client: OAuthClient, form: dict[str, str]) -> Response:
        value = form.get("refresh_token", "")
        entry = self._refresh_tokens.get(value)
        if entry is None or entry.client_id != client.client_id:
            return self._invalid_grant("The refresh token is invalid.")
        limited = self._rate_limited(entry.account)
        if limited is not None:
            return limited
        if not entry.valid:
            if self.revoke_family_on_reuse:
                self.revoke_refresh_family(entry.family)
            return self._invalid_grant("The refresh token has been used or revoked.")
        refresh: str | None = None
        if self.provider.rotates_refresh_tokens:
            entry.valid = False
            refresh = self._new_refresh(client.client_id, entry.account, entry.scopes, entry.family)
        user = entry.account.user_id
        self.counters.refreshes[user] = self.counters.refreshes.get(user, 0) + 1
        return self._token_response(client, entry.account, entry.scopes, entry.family, refresh)

    def revoke_refresh_family(self, family: str) -> None:
        for entry in self._refresh_tokens.values():
            if entry.family == family:
                entry.valid = False
        self.registry.revoke_family(family)

    def _new_refresh(
        self, client_id: str, account: OAuthAccount, scopes: frozenset[str], family: str
    ) -> str:
        value = f"{self.provider.name}_rt_{secrets.token_urlsafe(24)}"
        self._refresh_tokens[value] = _Refresh(client_id, account, scopes, family)
        return value

    def _new_access(
        self, client_id: str, account: OAuthAccount, scopes: frozenset[str], family: str
    ) -> AccessToken:
        return self.registry.issue(
            self.provider.name,
            account,
            lifetime=timedelta(seconds=self.provider.access_token_seconds),
            scopes=scopes,
            client_id=client_id,
            refresh_family=family,
        )

    def _token_response(
        self,
        client: OAuthClient,
        account: OAuthAccount,
        scopes: frozenset[str],
        family: str,
        refresh: str | None,
    ) -> Response:
        access = self._new_access(client.client_id, account, scopes, family)
        body: dict[str, Any] = {
            "access_token": access.token,
            "token_type": self.provider.token_type,
            "expires_in": self.provider.access_token_seconds,
            "scope": " ".join(sorted(scopes)),
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        if self.provider.created_at_field:
            body["created_at"] = int(self._now().timestamp())
        body.update(self._token_fields(account))
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
