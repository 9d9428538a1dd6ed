"""Errors of the Google Calendar client and sync; callers branch on `retriable`.

    GoogleError                      retriable
    ├── RefreshTokenRevoked          no    the refresh token was revoked (invalid_grant)
    ├── SourceInactive               no    the source is gone, disconnected or in error
    ├── SyncTokenGone                no    410: drop the sync token and sync in full
    ├── GoogleRequestRejected        no    another 4xx: the request itself is wrong
    └── GoogleUnavailable            yes   429 / rate limit / 5xx / network, retries used up

Messages never hold a token, a secret or a response body.
"""

from __future__ import annotations


class GoogleError(Exception):
    """A Google Calendar API call failed."""

    retriable = False

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RefreshTokenRevoked(GoogleError):
    """Google refused the source's refresh token (invalid_grant); it must be reconnected."""

    def __init__(self, detail: str, *, reason: str = "revoked") -> None:
        super().__init__(detail)
        self.reason = reason
        """`revoked` (invalid_grant) or `client_rejected` (invalid_client)."""


class SourceInactive(GoogleError):
    """The source no longer exists or is not active; nothing is synced for it."""


class SyncTokenGone(GoogleError):
    """Google answered 410 Gone: the sync token is invalid and a full sync is required."""


class GoogleRequestRejected(GoogleError):
    """Google rejected the request (a 4xx other than rate limiting and 410)."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.status = status


class GoogleUnavailable(GoogleError):
    """Google kept answering with rate limits or server errors, or could not be reached."""

    retriable = True
