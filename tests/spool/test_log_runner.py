"""LogRunner over a real spool: order, commit-after-apply, retries, restarts, the lease."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import pytest

from consumers.log_runner import LogRunner, RunnerOptions
from gateway.bus.spool import Spool
from schemas import CloudEvent
from tests.spool.records import make_records

FAST = RunnerOptions(
    batch_size=4,
    poll_seconds=0.05,
    backoff_initial_seconds=0.01,
    backoff_max_seconds=0.05,
    lease_ttl_seconds=0.3,
)


async def eventually(condition: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


class Recorder:
    """An apply that records event ids and the group's committed offset it saw."""

    def __init__(self, spool: Spool, group: str, *, failures: int = 0) -> None:
        self.spool = spool
        self.group = group
        self.failures = failures
        self.applied: list[str] = []
        self.committed_seen: list[int] = []

    async def __call__(self, events: Sequence[CloudEvent]) -> None:
        self.committed_seen.append(await self.spool.committed_offset(self.group))
        if self.failures:
            self.failures -= 1
            raise RuntimeError("store down; row was {'email': 'secret@example.com'}")
        self.applied.extend(event.id for event in events)


async def _stop(runner: LogRunner, task: asyncio.Task[None]) -> None:
    runner.stop()
    await asyncio.wait_for(task, 10)


async def test_applies_in_order_and_commits_after_each_batch(spool: Spool) -> None:
    offsets = await spool.append(make_records(0, 10))
    recorder = Recorder(spool, "g")
    runner = LogRunner(spool, recorder, group="g", options=FAST)
    task = asyncio.create_task(runner.run())

    await eventually(lambda: len(recorder.applied) == 10)
    await _stop(runner, task)

    assert recorder.applied == [f"evt-{n}" for n in range(10)]
    # each batch saw the previous batch's commit, never its own
    assert recorder.committed_seen == [0, offsets[3], offsets[7]]
    assert await spool.committed_offset("g") == offsets[-1]
    assert runner.stats.applied_batches == 3


async def test_records_appended_later_are_picked_up_without_waiting_for_the_poll(
    spool: Spool,
) -> None:
    recorder = Recorder(spool, "g")
    slow_poll = RunnerOptions(poll_seconds=30)
    runner = LogRunner(spool, recorder, group="g", options=slow_poll)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.05)

    await spool.append(make_records(0, 3))

    await eventually(lambda: len(recorder.applied) == 3, timeout=5)
    await _stop(runner, task)


async def test_a_failing_apply_is_retried_with_the_same_batch_and_nothing_skipped(
    spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    await spool.append(make_records(0, 6))
    recorder = Recorder(spool, "g", failures=3)
    runner = LogRunner(spool, recorder, group="g", options=FAST)
    caplog.set_level(logging.ERROR, logger="consumers.log_runner")
    task = asyncio.create_task(runner.run())

    await eventually(lambda: len(recorder.applied) == 6)
    await _stop(runner, task)

    assert recorder.applied == [f"evt-{n}" for n in range(6)]
    assert recorder.committed_seen[:4] == [0, 0, 0, 0]  # nothing committed while failing
    assert runner.stats.apply_failures == 3
    assert "apply failed" in caplog.text
    assert "RuntimeError" in caplog.text
    assert "secret@example.com" not in caplog.text
    assert "evt-" not in caplog.text


async def test_a_restarted_runner_resumes_after_the_committed_offset(spool: Spool) -> None:
    await spool.append(make_records(0, 5))
    first = Recorder(spool, "g")
    runner = LogRunner(spool, first, group="g", options=FAST)
    task = asyncio.create_task(runner.run())
    await eventually(lambda: len(first.applied) == 5)
    await _stop(runner, task)

    await spool.append(make_records(5, 3))
    second = Recorder(spool, "g")
    restarted = LogRunner(spool, second, group="g", options=FAST)
    task = asyncio.create_task(restarted.run())
    await eventually(lambda: len(second.applied) == 3)
    await asyncio.sleep(0.1)
    await _stop(restarted, task)

    assert first.applied == [f"evt-{n}" for n in range(5)]
    assert second.applied == ["evt-5", "evt-6", "evt-7"]


async def test_stop_finishes_and_commits_the_batch_being_applied(spool: Spool) -> None:
    offsets = await spool.append(make_records(0, 8))
    entered = asyncio.Event()
    release = asyncio.Event()
    applied: list[str] = []

    async def slow_apply(events: Sequence[CloudEvent]) -> None:
        entered.set()
        await release.wait()
        applied.extend(event.id for event in events)

    runner = LogRunner(spool, slow_apply, group="g", options=FAST)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(entered.wait(), 5)
    runner.stop()
    await asyncio.sleep(0.05)
    assert not task.done()
    release.set()
    await asyncio.wait_for(task, 5)

    assert applied == ["evt-0", "evt-1", "evt-2", "evt-3"]
    assert await spool.committed_offset("g") == offsets[3]


async def test_a_batch_interrupted_by_a_crash_is_applied_again(spool: Spool) -> None:
    await spool.append(make_records(0, 4))
    entered = asyncio.Event()

    async def hanging_apply(events: Sequence[CloudEvent]) -> None:
        entered.set()
        await asyncio.Event().wait()

    crashed = asyncio.create_task(LogRunner(spool, hanging_apply, group="g", options=FAST).run())
    await asyncio.wait_for(entered.wait(), 5)
    crashed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashed
    assert await spool.committed_offset("g") == 0

    recorder = Recorder(spool, "g")
    runner = LogRunner(spool, recorder, group="g", options=FAST)
    task = asyncio.create_task(runner.run())
    await eventually(lambda: len(recorder.applied) == 4)
    await _stop(runner, task)
    assert recorder.applied == ["evt-0", "evt-1", "evt-2", "evt-3"]


async def test_with_the_lease_only_one_of_two_runners_applies(spool: Spool) -> None:
    await spool.append(make_records(0, 6))
    one, two = Recorder(spool, "g"), Recorder(spool, "g")
    runners = [
        LogRunner(spool, one, group="g", lease=spool, owner="one", options=FAST),
        LogRunner(spool, two, group="g", lease=spool, owner="two", options=FAST),
    ]
    tasks = [asyncio.create_task(runner.run()) for runner in runners]

    await eventually(lambda: len(one.applied) + len(two.applied) == 6)
    await spool.append(make_records(6, 6))
    await eventually(lambda: len(one.applied) + len(two.applied) == 12)
    await asyncio.sleep(0.5)  # longer than the lease: renewals keep the holder
    holders = [runner for runner in runners if runner.holding_lease]
    assert len(holders) == 1
    holder_index = runners.index(holders[0])
    applied = [one.applied, two.applied]
    assert applied[holder_index] == [f"evt-{n}" for n in range(12)]
    assert applied[1 - holder_index] == []

    # the holder stops: the other takes over from the committed offset
    await _stop(holders[0], tasks[holder_index])
    other = runners[1 - holder_index]
    await eventually(lambda: other.holding_lease)
    await spool.append(make_records(12, 2))
    await eventually(lambda: len(applied[1 - holder_index]) == 2)
    await _stop(other, tasks[1 - holder_index])
    assert applied[1 - holder_index] == ["evt-12", "evt-13"]


async def test_a_runner_that_loses_its_lease_stops_applying(spool: Spool) -> None:
    recorder = Recorder(spool, "g")
    runner = LogRunner(spool, recorder, group="g", lease=spool, owner="one", options=FAST)
    task = asyncio.create_task(runner.run())
    await eventually(lambda: runner.holding_lease)

    # another process takes the lease over (as after an expiry)
    await spool.release_lease(runner.lease_name, "one")
    assert await spool.try_acquire_lease(runner.lease_name, "intruder", 60)
    await eventually(lambda: not runner.holding_lease, timeout=5)
    await spool.append(make_records(0, 2))
    await asyncio.sleep(0.3)

    assert recorder.applied == []
    await _stop(runner, task)
    await spool.release_lease(runner.lease_name, "intruder")
