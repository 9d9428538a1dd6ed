"""Every provider emulator in one app, each under its own path prefix.

The tests serve it on loopback (tests/fixtures/providers.py) and the development mode
serves it on a port (`python -m tests.emulators.serve`); `settings` names the hookgate
settings that point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.routing import Mount

from tests.emulators.calendly import CalendlyEmulator
from tests.emulators.ghl import GhlEmulator
from tests.emulators.google import GoogleEmulator
from tests.emulators.oauth import OAuthServer
from tests.emulators.pco import PcoEmulator
from tests.emulators.stripe import StripeEmulator
from tests.emulators.tokens import Clock, TokenRegistry, utc_now

PATHS = {
    # provider: (prefix, authorize path, token path)
    "pco": ("/pco", "/oauth/authorize", "/oauth/token"),
    "ghl": ("/ghl", "/v2/oauth/chooselocation", "/oauth/token"),
    "calendly": ("/calendly", "/oauth/authorize", "/oauth/token"),
    "google": ("/google", "/o/oauth2/v2/auth", "/token"),
}
STRIPE_PREFIX = "/stripe"
"""Stripe takes a secret key, no OAuth: it has a prefix only."""


@dataclass
class ProviderEmulators:
    """The OAuth providers' emulators sharing one token registry, with one OAuth client
    each, and Stripe's (its `SECRET_KEY`)."""

    now: Clock = utc_now
    base: str = "http://127.0.0.1"
    registry: TokenRegistry = field(init=False)
    pco: PcoEmulator = field(init=False)
    ghl: GhlEmulator = field(init=False)
    calendly: CalendlyEmulator = field(init=False)
    google: GoogleEmulator = field(init=False)
    stripe: StripeEmulator = field(init=False)
    app: Starlette = field(init=False)

    def __post_init__(self) -> None:
        self.registry = TokenRegistry(self.now)
        self.pco = PcoEmulator(self.registry, now=self.now)
        self.ghl = GhlEmulator(self.registry, now=self.now)
        self.calendly = CalendlyEmulator(self.registry, now=self.now)
        self.google = GoogleEmulator(now=self.now, registry=self.registry)
        self.stripe = StripeEmulator(now=self.now)
        for provider, oauth in self.oauth_servers().items():
            oauth.add_client(*self.client(provider))
        self.app = Starlette(
            routes=[
                Mount(PATHS[provider][0], app=emulator.app)
                for provider, emulator in (
                    ("pco", self.pco),
                    ("ghl", self.ghl),
                    ("calendly", self.calendly),
                    ("google", self.google),
                )
            ]
            + [Mount(STRIPE_PREFIX, app=self.stripe.app)]
        )

    def oauth_servers(self) -> dict[str, OAuthServer]:
        return {
            "pco": self.pco.oauth,
            "ghl": self.ghl.oauth,
            "calendly": self.calendly.oauth,
            "google": self.google.oauth,
        }

    @staticmethod
    def client(provider: str) -> tuple[str, str]:
        """The OAuth client (id, secret) registered at `provider`, any redirect URI."""
        return f"hookgate-{provider}", f"{provider}-client-secret"

    def served_at(self, base: str) -> None:
        """Record where the app is served, so Calendly's URIs can be followed."""
        self.base = base.rstrip("/")
        self.calendly.uri_base = self.api_base("calendly")

    def api_base(self, provider: str) -> str:
        return self.base + (STRIPE_PREFIX if provider == "stripe" else PATHS[provider][0])

    def authorize_url(self, provider: str) -> str:
        return self.api_base(provider) + PATHS[provider][1]

    def token_url(self, provider: str) -> str:
        return self.api_base(provider) + PATHS[provider][2]

    def settings(self) -> dict[str, str]:
        """The hookgate environment that points every provider at these emulators."""
        env: dict[str, str] = {}
        for provider in PATHS:
            name = provider.upper()
            client_id, secret = self.client(provider)
            env[f"HOOKGATE_{name}_AUTHORIZE_URL"] = self.authorize_url(provider)
            env[f"HOOKGATE_{name}_TOKEN_URL"] = self.token_url(provider)
            env[f"HOOKGATE_{name}_API_BASE"] = self.api_base(provider)
            env[f"HOOKGATE_{name}_CLIENT_ID"] = client_id
            env[f"HOOKGATE_{name}_CLIENT_SECRET"] = secret
        env["HOOKGATE_GOOGLE_REVOKE_URL"] = self.api_base("google") + "/revoke"
        env["HOOKGATE_PCO_REVOKE_URL"] = self.api_base("pco") + "/oauth/revoke"
        env["HOOKGATE_STRIPE_API_BASE"] = self.api_base("stripe")
        return env
