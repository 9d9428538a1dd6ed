"""The store's event handlers, composed into a registry.

Each provider's handler lives with the rest of its consumer-side knowledge
(`consumers/<provider>/handler.py`); what they share (payload helpers, the phone cache,
the counting of imported records) is here.
"""

from __future__ import annotations

from consumers.bookings import handler as bookings
from consumers.calendly import handler as calendly
from consumers.ghl import handler as ghl
from consumers.ghl import install as ghl_install
from consumers.handlers import synced
from consumers.pco import handler as pco
from consumers.pco import merger as pco_merger
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
    bookings.register(registry)
    return registry
