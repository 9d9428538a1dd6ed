"""What each provider's sources take besides a signing secret: credentials and options.

Credentials are the token alternatives to OAuth (provider-apis.md): a Planning Center
personal access token (`app_id`, `secret`), a GHL private integration token with the
location it acts on, a Calendly personal access token; Google's OAuth client and a
refresh token; Stripe's API key for outbound calls (its webhooks are checked with the
source's `secret`, the endpoint's `whsec_…`). They are encrypted at rest and never returned.

Options are what the code reads of `sources.options`: `default_region` (the phone
numbers' region, `consumers.phones`) of the providers whose rows carry phones, and the
GHL location a source is bound to (`schemas.ghl_location`); and the contract's Stripe
`refund_on_cancel` (CONTRACT.md, "Bookings and payments"). Options models allow keys
they do not name, so operators may keep notes there; the named ones are checked.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.fields import LocationId, SecretText

Secret = Annotated[SecretText, Field(repr=False, json_schema_extra={"writeOnly": True})]
"""A credential never shown again (JSON Schema `writeOnly`: the console's password fields)."""

Region = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", examples=["US", "GB"])]
"""An ISO 3166-1 alpha-2 region, the default of phone numbers written without `+`."""


class GoogleCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: SecretText
    client_secret: Secret
    refresh_token: Secret


class PcoToken(BaseModel):
    """A Planning Center personal access token (HTTP Basic `app_id:secret`)."""

    model_config = ConfigDict(extra="forbid")
    app_id: SecretText
    secret: Secret


class GhlToken(BaseModel):
    """A GHL sub-account private integration token, and the location it acts on."""

    model_config = ConfigDict(extra="forbid")
    private_integration_token: Secret
    location_id: LocationId


class CalendlyToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    personal_access_token: Secret


class StripeKey(BaseModel):
    """A Stripe secret key (`sk_…`) or restricted key (`rk_…`), never a publishable `pk_…`."""

    model_config = ConfigDict(extra="forbid")
    secret_key: Secret = Field(pattern=r"^(sk|rk)_")


class PhoneOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    default_region: Region | None = None


class GhlOptions(PhoneOptions):
    location_id: LocationId | None = None
    """The location this source takes deliveries of; unset: the location it connected."""


class StripeOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    refund_on_cancel: bool = False
    """Refund a paid booking's payment when its invitee cancels."""
