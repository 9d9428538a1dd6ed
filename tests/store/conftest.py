"""Store fixtures: an applier with every handler, on the parametrized `engine`."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.providers import build_registry


@pytest.fixture
def applier(engine: AsyncEngine) -> Applier:
    return Applier(engine, build_registry())
