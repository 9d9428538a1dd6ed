"""The `credentials` each provider's sources take, checked as the rest of admin input.

Google: its OAuth client and a refresh token. The others: the token alternatives to
OAuth (provider-apis.md): a Planning Center personal access token (`app_id`, `secret`),
a GHL private integration token with the location it acts on, a Calendly personal
access token. Stripe: the account's secret (or restricted) API key for outbound calls;
its webhooks are checked with the source's `secret` (the endpoint's `whsec_…`). OAuth
connect stores tokens in the same encrypted column; none of it is ever returned.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.responses import Response

from gateway.admin.input import SecretText, _not_blank, _printable, refusal, validated

MAX_LOCATION_CHARS = 100

LocationId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_LOCATION_CHARS),
    AfterValidator(_not_blank),
    AfterValidator(_printable),
]


class GoogleCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: SecretText
    client_secret: SecretText = Field(repr=False)
    refresh_token: SecretText = Field(repr=False)


class PcoToken(BaseModel):
    """A Planning Center personal access token (HTTP Basic `app_id:secret`)."""

    model_config = ConfigDict(extra="forbid")
    app_id: SecretText
    secret: SecretText = Field(repr=False)


class GhlToken(BaseModel):
    """A GHL sub-account private integration token, and the location it acts on."""

    model_config = ConfigDict(extra="forbid")
    private_integration_token: SecretText = Field(repr=False)
    location_id: LocationId


class CalendlyToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    personal_access_token: SecretText = Field(repr=False)


class StripeKey(BaseModel):
    """A Stripe secret key (`sk_…`) or restricted key (`rk_…`), never a publishable `pk_…`."""

    model_config = ConfigDict(extra="forbid")
    secret_key: SecretText = Field(repr=False, pattern=r"^(sk|rk)_")


CREDENTIALS: dict[str, type[BaseModel]] = {
    "google": GoogleCredentials,
    "pco": PcoToken,
    "ghl": GhlToken,
    "calendly": CalendlyToken,
    "stripe": StripeKey,
}


def parse_credentials(provider: str, given: dict[str, Any]) -> dict[str, str] | Response:
    """`given` as `provider`'s credentials, or the 400 naming the wrong field."""
    model = CREDENTIALS.get(provider)
    if model is None:
        return refusal(f"{provider} sources take no `credentials`.", "credentials")
    parsed = validated(model, given, at=("credentials",))
    if isinstance(parsed, Response):
        return parsed
    return {name: str(value) for name, value in parsed.model_dump().items()}
