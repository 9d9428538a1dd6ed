"""Row versions at the ends of time: always a BIGINT, a final state still outranks a live one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from consumers.versions import LATEST_VERSION_TIME, LIFECYCLE_STEP, row_version

BIGINT_MAX = 2**63 - 1
EXTREMES = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2200, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-23, minutes=-59))),
    datetime.max,  # noqa: DTZ901 - naive on purpose: read as local time
]


@pytest.mark.parametrize("moment", EXTREMES, ids=str)
@pytest.mark.parametrize("final", [False, True])
def test_every_time_gives_a_version_that_fits_a_bigint(moment: datetime, final: bool) -> None:
    version = row_version(moment, "evt-1", final=final)

    assert 0 <= version <= BIGINT_MAX
    assert (version >= LIFECYCLE_STEP) == final


def test_times_past_the_range_are_clamped_not_wrapped() -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    far = datetime(9999, 1, 1, tzinfo=UTC)

    assert row_version(now, "e") < row_version(far, "e") == row_version(LATEST_VERSION_TIME, "e")
    assert row_version(far, "e") < row_version(now, "e", final=True)
    assert row_version(datetime(1900, 1, 1, tzinfo=UTC), "e") == row_version(
        datetime(1970, 1, 1, tzinfo=UTC), "e"
    )
