"""The store's event handlers, one module per provider, composed into a registry."""

from __future__ import annotations

from consumers.handlers import calendly, ghl, ghl_install, pco, pco_merger, synced
from consumers.registry import HandlerRegistry


def build_registry() -> HandlerRegistry:
    """A registry with every handler of the local store."""
    registry = HandlerRegistry()
    calendly.register(registry)
    pco.register(registry)
    pco_merger.register(registry)
    ghl.register(registry)
    ghl_install.register(registry)
    synced.register(registry)
    return registry
