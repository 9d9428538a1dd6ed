"""Each provider's authorization-server facts (sources: /work/shared/provider-apis.md).

Where the notes are uncertain the choice is said beside the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class OAuthProvider:
    """The facts of one provider's authorization server."""

    name: str
    client_auth: frozenset[Literal["basic", "body"]]
    """How the client may authenticate at the token endpoint."""
    pkce: Literal["required", "supported", "ignored"]
    """`ignored`: challenge and verifier are accepted and not checked (no documented PKCE)."""
    access_token_seconds: int
    rotates_refresh_tokens: bool
    scopes: frozenset[str]
    """Every scope the provider knows; an unknown one is `invalid_scope`."""
    scope_required: bool
    """False: a request without `scope` is granted every scope (Calendly before scopes)."""
    token_type: str = "Bearer"
    code_seconds: int = 600
    revocable: bool = False
    token_requests_per_minute: int | None = None
    """Per user (Calendly: 8)."""
    created_at_field: bool = False
    """The token response carries `created_at` (unix seconds)."""
    offline_access: bool = False
    """Google: a refresh token only with `access_type=offline`, and again for an account
    that already granted the client only with `prompt=consent`."""


PCO_OAUTH = OAuthProvider(
    name="pco",
    client_auth=frozenset({"body"}),  # documented form fields (apideck: client_secret_post)
    pkce="ignored",  # PCO support of PKCE is uncertain: a challenge is accepted, not checked
    access_token_seconds=7200,
    rotates_refresh_tokens=True,
    scopes=frozenset(
        {
            "people",
            "services",
            "check_ins",
            "giving",
            "groups",
            "calendar",
            "publishing",
            "registrations",
            "api",
            "home",
            "webhooks",  # declared by the Webhooks OpenAPI, not in prose docs
        }
    ),
    scope_required=True,
    token_type="bearer",
    revocable=True,
    created_at_field=True,
)
GHL_OAUTH = OAuthProvider(
    name="ghl",
    client_auth=frozenset({"body"}),  # the documented form body
    pkce="ignored",  # GHL documents no PKCE
    access_token_seconds=86399,
    rotates_refresh_tokens=True,
    scopes=frozenset(
        {
            "contacts.readonly",
            "contacts.write",
            "calendars.readonly",
            "calendars/events.readonly",
            "calendars/events.write",
            "locations.readonly",
            "users.readonly",
            "oauth.readonly",
            "oauth.write",
        }
    ),
    scope_required=True,
)
CALENDLY_OAUTH = OAuthProvider(
    name="calendly",
    client_auth=frozenset({"basic", "body"}),  # the notes do not say which: both accepted
    pkce="supported",
    access_token_seconds=7200,
    rotates_refresh_tokens=True,
    scopes=frozenset(
        {
            "users:read",
            "organizations:read",
            "scheduled_events:read",
            "event_types:read",
            "availability:read",
            "webhooks:read",
            "webhooks:write",
            "contacts:read",
        }
    ),
    scope_required=False,  # scopes are new (2026-03); none requested grants all of them
    token_requests_per_minute=8,
    created_at_field=True,
)
GOOGLE_OAUTH = OAuthProvider(
    name="google",
    client_auth=frozenset({"basic", "body"}),
    pkce="supported",
    access_token_seconds=3599,
    rotates_refresh_tokens=False,
    scopes=frozenset(
        {
            "openid",
            "email",
            "profile",
            "https://www.googleapis.com/auth/userinfo.email",
            "https://www.googleapis.com/auth/calendar",
            "https://www.googleapis.com/auth/calendar.readonly",
            "https://www.googleapis.com/auth/calendar.events",
            "https://www.googleapis.com/auth/calendar.events.readonly",
            "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
            "https://www.googleapis.com/auth/calendar.settings.readonly",
        }
    ),
    scope_required=True,
    revocable=True,
    offline_access=True,
)
