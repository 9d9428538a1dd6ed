"""Booking fixtures: an applier with every handler and the desk, on the parametrized `engine`."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.bookings.desk import BookingDesk
from consumers.providers import build_registry
from tests.store.events import at


@pytest.fixture
def applier(engine: AsyncEngine) -> Applier:
    return Applier(engine, build_registry())


@pytest.fixture
def desk(engine: AsyncEngine) -> BookingDesk:
    return BookingDesk(engine, lambda: at(0))
