"""LogRunner and poison: the bad event is found by bisection, parked, and the line goes on."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from consumers.log_runner import LogRunner, RunnerOptions
from gateway.bus.spool import Spool
from schemas import BusRecord, CloudEvent
from schemas.deadletter import DeadLetter
from tests.spool.records import make_records
from tests.spool.test_log_runner import eventually

FAST = RunnerOptions(
    batch_size=64,
    poll_seconds=0.05,
    backoff_initial_seconds=0.01,
    backoff_max_seconds=0.02,
    max_retries=2,
)


class Parked:
    """A dead-letter sink in memory."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def park(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


class RefusesOne:
    """An apply (one transaction: all or nothing) that refuses any batch holding `bad`."""

    def __init__(self, bad: str, *, transient_failures: int = 0) -> None:
        self.bad = bad
        self.transient_failures = transient_failures
        self.applied: list[str] = []
        self.calls = 0

    async def __call__(self, events: Sequence[CloudEvent]) -> None:
        self.calls += 1
        if self.transient_failures:
            self.transient_failures -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("store down"))
        if any(event.id == self.bad for event in events):
            raise ValueError("the store refused a value")
        self.applied.extend(event.id for event in events)


async def _run_until(runner: LogRunner, spool: Spool, offset: int) -> None:
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: runner.position == offset, timeout=10)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 10)
    assert await spool.committed_offset("g") == offset


async def test_one_bad_event_in_a_batch_is_parked_and_every_other_applied(spool: Spool) -> None:
    offsets = await spool.append(make_records(0, 64))
    apply = RefusesOne("evt-37")
    parked = Parked()
    runner = LogRunner(spool, apply, group="g", options=FAST, dead_letters=parked)

    await _run_until(runner, spool, offsets[-1])

    assert sorted(apply.applied) == sorted(f"evt-{n}" for n in range(64) if n != 37)
    [letter] = parked.letters
    assert (letter.offset, letter.topic, letter.group) == (offsets[37], "hookgate.calendly", "g")
    assert dict(letter.headers)["ce_id"] == b"evt-37"
    assert (letter.error_class, letter.error) == ("ValueError", "the store refused a value")
    # 3 tries of the batch, then one apply per half on the way down (log2 64 = 6 levels)
    assert apply.calls == 3 + 2 * 6
    assert letter.attempts == 3 + 6
    assert runner.stats.dead_letters == 1


async def test_transient_errors_are_retried_until_they_clear_and_nothing_is_parked(
    spool: Spool,
) -> None:
    offsets = await spool.append(make_records(0, 8))
    apply = RefusesOne("none", transient_failures=6)  # more than max_retries
    parked = Parked()
    runner = LogRunner(spool, apply, group="g", options=FAST, dead_letters=parked)

    await _run_until(runner, spool, offsets[-1])

    assert apply.applied == [f"evt-{n}" for n in range(8)]
    assert parked.letters == []


async def test_a_record_that_is_not_a_cloudevent_is_parked_too(spool: Spool) -> None:
    good = make_records(0, 2)
    broken = BusRecord(topic="hookgate.calendly", key=b"k", value=b"{}", headers=(), event_id="")
    offsets = await spool.append([good[0], broken, good[1]])
    apply = RefusesOne("none")
    parked = Parked()
    runner = LogRunner(spool, apply, group="g", options=FAST, dead_letters=parked)

    await _run_until(runner, spool, offsets[-1])

    assert apply.applied == ["evt-0", "evt-1"]
    assert [letter.offset for letter in parked.letters] == [offsets[1]]
