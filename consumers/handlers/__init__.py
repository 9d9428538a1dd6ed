"""The store's event handlers, composed into a registry.

Each provider's handlers live with the rest of its consumer-side knowledge
(`consumers/<provider>/handler.py`) and are listed in `consumers.providers`; what they
share (payload helpers, the phone cache, the counting of imported records) is here.
"""

from __future__ import annotations

from consumers.handlers import synced
from consumers.providers import CONSUMER_PROVIDERS
from consumers.registry import HandlerRegistry


def build_registry() -> HandlerRegistry:
    """A registry with every handler of the local store."""
    registry = HandlerRegistry()
    for provider in CONSUMER_PROVIDERS.values():
        for register in provider.handlers:
            register(registry)
    synced.register(registry)
    return registry
