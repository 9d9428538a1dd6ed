from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.bus.spool import Spool


@pytest.fixture
def spool_path(tmp_path: Path) -> Path:
    return tmp_path / "spool.db"


@pytest.fixture
async def spool(spool_path: Path) -> AsyncIterator[Spool]:
    async with Spool(spool_path) as opened:
        yield opened
