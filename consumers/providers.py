"""The consumer side's provider registry: one line per provider.

The gateway's edge has its own (`gateway.ingress.providers`: verifier, normalizer,
retry answers); this one says what the consumer side does with a provider: the store
handlers of its events, how it connects (`ProviderFacts`), what it imports, and whether
its webhook subscriptions need repairing. Everything that lists providers on this side
(the handler registry, the connect routes, the sync runner, the metrics' label sets,
the webhook repair) reads it from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from consumers.calendly import handler as calendly_handler
from consumers.calendly.connect import CalendlyConnect
from consumers.calendly.imports import CalendlyImporter
from consumers.ghl import handler as ghl_handler
from consumers.ghl import install as ghl_install
from consumers.ghl.connect import GhlConnect
from consumers.ghl.imports import GhlImporter
from consumers.google.connect import GoogleConnect
from consumers.handlers import synced
from consumers.imports.importer import Importer
from consumers.oauth.connect import ProviderFacts
from consumers.pco import handler as pco_handler
from consumers.pco import merger as pco_merger
from consumers.pco.connect import PcoConnect
from consumers.pco.imports import PcoImporter
from consumers.registry import HandlerRegistry

Registers = Callable[[HandlerRegistry], None]


@dataclass(frozen=True, slots=True)
class ConsumerProvider:
    name: str
    connect: ProviderFacts
    """The connect flow's and the connection test's facts."""
    handlers: tuple[Registers, ...] = ()
    """What applies its webhook events to the store (Google's sync is wired by the stack,
    as it needs the API client)."""
    importer: Importer | None = None
    """Its import and reconciliation; None: the provider has none (Google syncs itself)."""
    repairs_webhooks: bool = False
    """The provider disables subscriptions on failures and its API lists them, so a
    reconciliation checks them and provisions lapsed ones again."""


CONSUMER_PROVIDERS: Mapping[str, ConsumerProvider] = {
    p.name: p
    for p in (
        ConsumerProvider("google", GoogleConnect()),
        ConsumerProvider(
            "calendly",
            CalendlyConnect(),
            (calendly_handler.register,),
            CalendlyImporter(),
            repairs_webhooks=True,
        ),
        ConsumerProvider(
            "pco",
            PcoConnect(),
            (pco_handler.register, pco_merger.register),
            PcoImporter(),
            repairs_webhooks=True,
        ),
        ConsumerProvider(
            "ghl", GhlConnect(), (ghl_handler.register, ghl_install.register), GhlImporter()
        ),
    )
}

IMPORTERS: Mapping[str, Importer] = {
    p.name: p.importer for p in CONSUMER_PROVIDERS.values() if p.importer is not None
}
"""The providers with an import, by name."""


def build_registry() -> HandlerRegistry:
    """A registry with every handler of the local store (Google's aside, see `handlers`)."""
    registry = HandlerRegistry()
    for provider in CONSUMER_PROVIDERS.values():
        for register in provider.handlers:
            register(registry)
    synced.register(registry)
    return registry
