"""Each provider's template: how its sources authenticate, what they take, what they write.

`GET /admin/providers` shows these (the credentials and options as JSON Schema, made
from the models in `schemas.credentials`), the console draws its forms from them, and
`POST`/`PATCH /admin/sources` check what they are given against the same models. The
events a provider's sources bring are the consumers' to say: the runtime adds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from schemas.credentials import (
    CalendlyToken,
    GhlOptions,
    GhlToken,
    GoogleCredentials,
    PcoToken,
    PhoneOptions,
    StripeKey,
    StripeOptions,
)
from schemas.google_store import google_channels
from schemas.store import (
    appointments,
    bookings,
    contacts,
    ghl_appointments,
    member_emails,
    member_phones,
    members,
)

AUTH_OAUTH = "oauth"
AUTH_TOKEN = "token"  # noqa: S105 (a kind of authentication)
AUTH_SECRET = "secret"  # noqa: S105 (a kind of authentication)
"""How a source authenticates: connected by OAuth, given token `credentials`, or
verifying deliveries with a shared signing `secret`."""


@dataclass(frozen=True)
class ProviderTemplate:
    name: str
    auth: tuple[str, ...]
    credentials: type[BaseModel]
    options: type[BaseModel] | None
    """None: the provider's sources read no options."""
    tables: tuple[str, ...]
    """The store tables its events and imports write."""

    def as_json(self, events: list[str]) -> dict[str, Any]:
        return {
            "name": self.name,
            "auth": list(self.auth),
            "credentials": self.credentials.model_json_schema(),
            "options": self.options.model_json_schema() if self.options else None,
            "events": events,
            "tables": list(self.tables),
        }


TEMPLATES: dict[str, ProviderTemplate] = {
    t.name: t
    for t in (
        ProviderTemplate(
            "google",
            (AUTH_OAUTH, AUTH_TOKEN),
            GoogleCredentials,
            None,
            (appointments.name, google_channels.name),
        ),
        ProviderTemplate(
            "calendly", (AUTH_OAUTH, AUTH_TOKEN, AUTH_SECRET), CalendlyToken, None, (bookings.name,)
        ),
        ProviderTemplate(
            "pco",
            (AUTH_OAUTH, AUTH_TOKEN, AUTH_SECRET),
            PcoToken,
            PhoneOptions,
            (members.name, member_emails.name, member_phones.name),
        ),
        ProviderTemplate(
            "ghl",
            (AUTH_OAUTH, AUTH_TOKEN),
            GhlToken,
            GhlOptions,
            (contacts.name, ghl_appointments.name),
        ),
        ProviderTemplate("stripe", (AUTH_TOKEN, AUTH_SECRET), StripeKey, StripeOptions, ()),
    )
}
"""Every provider's template; the admin API shows those of the registered providers
(`gateway.ingress.providers.PROVIDERS`)."""
