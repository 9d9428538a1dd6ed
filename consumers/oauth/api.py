"""A provider API call on a source's behalf, its failures mapped to stable codes.

`ApiError.code` is what the connection test reports: `unauthorized` (401, or no
token can be had), `forbidden` (403 and other refusals of the request), `rate_limited`
(429) or `unreachable` (connection failures, timeouts, 5xx). With OAuth the first
401 refreshes the token once (`OAuthBearer`) and the call is made again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from consumers.oauth.keeper import TokenKeeper, TokenUnavailable


class ApiError(Exception):
    def __init__(self, code: str, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        """The provider's HTTP status, when it answered."""


class Auth(Protocol):
    """The `Authorization` of a source's calls."""

    async def headers(self) -> dict[str, str]: ...

    async def after_401(self, sent: Mapping[str, str]) -> dict[str, str] | None:
        """Headers to try once more with after a 401 to `sent`; None: give up."""
        ...


class StaticAuth:
    """A token that does not change (a personal access or private integration token)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __repr__(self) -> str:
        return "StaticAuth()"

    async def headers(self) -> dict[str, str]:
        return dict(self._headers)

    async def after_401(self, sent: Mapping[str, str]) -> dict[str, str] | None:
        return None


class OAuthBearer:
    """A source's OAuth access token, from its `TokenKeeper`."""

    def __init__(self, keeper: TokenKeeper, source_id: str) -> None:
        self._keeper = keeper
        self._source_id = source_id

    def __repr__(self) -> str:
        return f"OAuthBearer(source_id={self._source_id!r})"

    async def headers(self) -> dict[str, str]:
        return self._bearer(await self._token(None))

    async def after_401(self, sent: Mapping[str, str]) -> dict[str, str] | None:
        rejected = sent.get("Authorization", "").removeprefix("Bearer ")
        return self._bearer(await self._token(rejected))

    async def _token(self, rejected: str | None) -> str:
        try:
            return await self._keeper.access_token(self._source_id, rejected=rejected)
        except TokenUnavailable as exc:
            if exc.reason != "unavailable":
                raise ApiError("unauthorized", exc.detail) from None
            code = "rate_limited" if exc.rate_limited else "unreachable"
            raise ApiError(code, f"The token endpoint: {exc.detail}") from None

    @staticmethod
    def _bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


class ProviderApi:
    """JSON calls to one provider's API base with one source's authorization."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base: str,
        auth: Auth,
        *,
        name: str,
        headers: Mapping[str, str] = {},
    ) -> None:
        self._http = http
        self._base = base.rstrip("/")
        self._auth = auth
        self._name = name
        self._headers = dict(headers)

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return await self._call("GET", path, params=params)

    async def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call("POST", path, json=body)

    async def patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call("PATCH", path, json=body)

    async def delete(self, path: str) -> None:
        """DELETE; a resource already gone (404) is as good as deleted."""
        try:
            await self._call("DELETE", path, empty=True)
        except ApiError as exc:
            if exc.status != 404:
                raise

    async def _call(
        self, method: str, path: str, *, empty: bool = False, **options: Any
    ) -> dict[str, Any]:
        url = path if path.startswith("http") else self._base + path
        sent = await self._auth.headers()
        response = await self._send(method, url, sent, options)
        if response.status_code == 401:
            again = await self._auth.after_401(sent)
            if again is not None:
                response = await self._send(method, url, again, options)
        self._raise_for(response)
        if empty:
            return {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError("unreachable", f"{self._name} answered something that is not JSON.")
        return body

    async def _send(
        self, method: str, url: str, auth: Mapping[str, str], options: dict[str, Any]
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                url,
                headers={**self._headers, **auth, "Accept": "application/json"},
                **options,
            )
        except httpx.HTTPError as exc:
            raise ApiError(
                "unreachable", f"{self._name} could not be reached ({type(exc).__name__})."
            ) from None

    def _raise_for(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 401:
            raise ApiError("unauthorized", f"{self._name} refused the credentials (401).", status)
        if status == 429:
            raise ApiError("rate_limited", f"{self._name} asked to slow down (429).", status)
        if status >= 500:
            raise ApiError("unreachable", f"{self._name} answered {status}.", status)
        raise ApiError("forbidden", f"{self._name} refused the request ({status}).", status)
