"""A PCO import survives `kill -9` of its `hookgate serve`: the next process resumes it
from its last committed page, within the emulator's enforced rate limit, with exact
counts. The 20,000-person run is the soak `tests.soak.killed_import`; most of this
test's time is the killed process's embedded-consumer lease (15 s) running out."""

from __future__ import annotations

from pathlib import Path

from tests.imports.killed_import import killed_import

PEOPLE = 2_000


async def test_an_import_killed_with_sigkill_resumes_from_its_last_page(
    tmp_path: Path, postgres_url: str
) -> None:
    report = await killed_import(tmp_path, postgres_url, people=PEOPLE, limit=10, period=1.0)
    print("\n" + report.summary())

    assert report.problems(PEOPLE) == [], report.summary()
    assert report.pages_when_killed >= PEOPLE // 100 // 2
