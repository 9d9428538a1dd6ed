"""Google write-back through the admin API: outbox → worker → emulator → `appointments`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from consumers.google.outbox import WriteOutbox
from gateway.google.writes import new_event_id
from schemas.store import appointments
from tests.google.conftest import ADMIN_TOKEN, Harness
from tests.google.test_sync import CALENDAR, START, open_channel

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
EVENT = {
    "summary": "Call with Ana",
    "start": {"dateTime": START.isoformat()},
    "end": {"dateTime": (START + timedelta(hours=1)).isoformat()},
}


async def submit(harness: Harness, method: str, path: str, body: dict[str, Any]) -> str:
    """Send a write to the admin API; its write id (the answer must be 202)."""
    response = await harness.gateway.request(
        method, f"/admin/google/{harness.source.id}/{path}", json=body, headers=AUTH
    )
    assert response.status_code == 202, response.text
    write_id: str = response.json()["write_id"]
    return write_id


async def status(harness: Harness, write_id: str) -> dict[str, Any]:
    response = await harness.gateway.get(f"/admin/google/writes/{write_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def run(harness: Harness, write_id: str) -> dict[str, Any]:
    """Let the worker run what is due; the write's status then."""
    await harness.google.writer.run_due()
    return await status(harness, write_id)


async def created(harness: Harness) -> str:
    """Insert EVENT through the API and run it; its Google event id."""
    done = await run(
        harness, await submit(harness, "POST", "events", {"calendar_id": CALENDAR, "event": EVENT})
    )
    assert done["status"] == "done", done
    event_id: str = done["google_event_id"]
    return event_id


def metric(harness: Harness, name: str, **labels: str) -> float:
    value = harness.metrics.registry.get_sample_value(name, labels)
    assert value is not None, (name, labels)
    return value


async def test_create_patch_delete_reach_google_and_the_store(harness: Harness) -> None:
    write_id = await submit(harness, "POST", "events", {"calendar_id": CALENDAR, "event": EVENT})
    pending = await status(harness, write_id)
    assert pending["status"] == "pending"
    event_id = pending["google_event_id"]

    done = await run(harness, write_id)
    event = harness.emulator.live_events(CALENDAR)[event_id]
    assert done == {
        "status": "done",
        "google_event_id": event_id,
        "etag": event.etag,
        "detail": None,
        "conflicts": 0,
    }
    assert event.summary == "Call with Ana"
    assert event.private == {"hookgate_write_id": write_id}
    await harness.assert_store_matches(CALENDAR)

    patched = await run(
        harness,
        await submit(
            harness, "PATCH", f"events/{CALENDAR}/{event_id}", {"event": {"summary": "Moved"}}
        ),
    )
    assert patched["status"] == "done", patched
    assert event.summary == "Moved"
    assert patched["etag"] == event.etag
    await harness.assert_store_matches(CALENDAR)

    deleted = await run(
        harness, await submit(harness, "DELETE", f"events/{CALENDAR}/{event_id}", {})
    )
    assert deleted["status"] == "done", deleted
    assert harness.emulator.live_events(CALENDAR) == {}
    rows = await harness.store(CALENDAR)
    assert rows[event_id]["status"] == "cancelled"
    assert rows[event_id]["etag"] == event.etag
    assert metric(harness, "hookgate_google_writes_total", op="insert", outcome="done") == 1
    assert metric(harness, "hookgate_google_writes_total", op="delete", outcome="done") == 1


async def test_an_insert_whose_answer_was_lost_leaves_one_event(harness: Harness) -> None:
    harness.emulator.drop_responses = 1
    write_id = await submit(harness, "POST", "events", {"calendar_id": CALENDAR, "event": EVENT})

    done = await run(harness, write_id)

    assert harness.emulator.counters.dropped_responses == 1
    assert done["status"] == "done", done
    assert list(harness.emulator.live_events(CALENDAR)) == [done["google_event_id"]]
    assert harness.emulator.counters.writes == 2, "the insert and its retry (409)"
    await harness.assert_store_matches(CALENDAR)


async def test_a_patch_whose_answer_was_lost_is_not_a_conflict(harness: Harness) -> None:
    event_id = await created(harness)
    harness.emulator.drop_responses = 1
    path = f"events/{CALENDAR}/{event_id}"

    done = await run(harness, await submit(harness, "PATCH", path, {"event": {"summary": "B"}}))

    assert harness.emulator.counters.dropped_responses == 1
    assert (done["status"], done["conflicts"]) == ("done", 0), done
    assert harness.emulator.live_events(CALENDAR)[event_id].summary == "B"
    await harness.assert_store_matches(CALENDAR)


async def _changed_at_google(harness: Harness) -> tuple[str, str]:
    """An event hookgate wrote, then changed at Google; (its id, the etag hookgate saw)."""
    event_id = await created(harness)
    seen = harness.emulator.live_events(CALENDAR)[event_id].etag
    await harness.emulator.update_event(CALENDAR, event_id, summary="Changed at Google")
    return event_id, seen


async def test_a_stale_if_match_is_a_conflict_and_keeps_googles_version(
    harness: Harness,
) -> None:
    event_id, stale = await _changed_at_google(harness)
    body = {"event": {"summary": "Ours"}, "if_match": stale}

    ended = await run(
        harness, await submit(harness, "PATCH", f"events/{CALENDAR}/{event_id}", body)
    )

    event = harness.emulator.live_events(CALENDAR)[event_id]
    assert ended["status"] == "conflict", ended
    assert ended["conflicts"] == 1
    assert "remote_wins" in ended["detail"]
    assert event.summary == "Changed at Google"
    rows = await harness.store(CALENDAR)
    assert (rows[event_id]["summary"], rows[event_id]["etag"]) == ("Changed at Google", event.etag)
    assert metric(harness, "hookgate_google_write_conflicts_total", policy="remote_wins") == 1


async def test_with_local_wins_a_conflict_is_written_again_on_the_new_etag(
    harness: Harness,
) -> None:
    harness.google.writer.policy = "local_wins"
    event_id, stale = await _changed_at_google(harness)
    body = {"event": {"summary": "Ours"}, "if_match": stale}

    ended = await run(
        harness, await submit(harness, "PATCH", f"events/{CALENDAR}/{event_id}", body)
    )

    event = harness.emulator.live_events(CALENDAR)[event_id]
    assert (ended["status"], ended["conflicts"]) == ("done", 1), ended
    assert event.summary == "Ours"
    assert ended["etag"] == event.etag
    await harness.assert_store_matches(CALENDAR)
    assert metric(harness, "hookgate_google_write_conflicts_total", policy="local_wins") == 1


async def test_the_stored_etag_guards_a_patch_without_if_match(harness: Harness) -> None:
    event_id = await created(harness)
    await harness.emulator.update_event(CALENDAR, event_id, summary="Changed at Google")
    path = f"events/{CALENDAR}/{event_id}"

    ended = await run(harness, await submit(harness, "PATCH", path, {"event": {"summary": "B"}}))

    assert ended["status"] == "conflict", ended
    assert harness.emulator.live_events(CALENDAR)[event_id].summary == "Changed at Google"


async def test_own_writes_come_back_as_self_not_as_remote_changes(harness: Harness) -> None:
    await open_channel(harness)
    await harness.settle()
    event_id = await created(harness)
    await run(
        harness,
        await submit(
            harness, "PATCH", f"events/{CALENDAR}/{event_id}", {"event": {"summary": "B"}}
        ),
    )
    await harness.settle()

    def changes(origin: str) -> float:
        return metric(
            harness, "hookgate_google_sync_changes_total", trigger="notification", origin=origin
        )

    assert changes("remote") == 0
    assert changes("self") >= 1
    await harness.assert_store_matches(CALENDAR)

    await harness.emulator.update_event(CALENDAR, event_id, summary="Changed at Google")
    await harness.settle()
    assert changes("remote") == 1, "an edit at Google keeps the tag but is remote"
    await harness.assert_store_matches(CALENDAR)


async def test_disconnecting_fails_the_pending_writes(harness: Harness) -> None:
    write_id = await submit(harness, "POST", "events", {"calendar_id": CALENDAR, "event": EVENT})
    response = await harness.gateway.post(
        f"/admin/google/{harness.source.id}/disconnect", headers=AUTH
    )
    assert response.status_code == 200, response.text
    at_once = (await harness.gateway.get(f"/admin/google/writes/{write_id}", headers=AUTH)).json()

    ended = await run(harness, write_id)

    assert at_once["status"] == "failed"  # no consumer needs to run first (Kafka mode)
    assert ended["status"] == "failed"
    assert "disconnected" in ended["detail"]
    assert harness.emulator.live_events(CALENDAR) == {}
    assert harness.emulator.counters.writes == 0


async def test_the_write_api_refuses_what_it_cannot_take(harness: Harness) -> None:
    source = harness.source.id

    async def refused(method: str, path: str, body: object) -> tuple[int, str]:
        response = await harness.gateway.request(
            method, f"/admin/google/{path}", json=body, headers=AUTH
        )
        return response.status_code, response.json()["error"]

    assert await refused("POST", "src_nope/events", {"calendar_id": CALENDAR, "event": EVENT}) == (
        404,
        "unknown_source",
    )
    assert await refused("POST", f"{source}/events", {"calendar_id": CALENDAR}) == (
        400,
        "invalid_event",
    )
    assert await refused("POST", f"{source}/events", {"event": EVENT}) == (
        400,
        "invalid_calendar_id",
    )
    assert await refused("POST", f"{source}/events", [1]) == (400, "malformed_body")
    event = EVENT | {"id": "Not_Base32"}
    assert await refused("POST", f"{source}/events", {"calendar_id": CALENDAR, "event": event}) == (
        400,
        "invalid_event_id",
    )
    assert await refused("DELETE", f"{source}/events/{CALENDAR}/abcdef", {"if_match": 7}) == (
        400,
        "invalid_if_match",
    )
    assert await refused("GET", "writes/gw_unknown", None) == (404, "unknown_write")


async def test_rate_limits_and_server_errors_are_retried(harness: Harness) -> None:
    harness.emulator.inject(429, retry_after="0")
    harness.emulator.inject(503)
    write_id = await submit(harness, "POST", "events", {"calendar_id": CALENDAR, "event": EVENT})

    done = await run(harness, write_id)

    assert done["status"] == "done", done
    assert harness.emulator.counters.faults_served == 2
    assert list(harness.emulator.live_events(CALENDAR)) == [done["google_event_id"]]


async def test_a_write_google_keeps_refusing_waits_in_the_outbox(harness: Harness) -> None:
    harness.emulator.inject(503, retry_after="0", times=6)  # every attempt the client makes
    write_id = await submit(harness, "POST", "events", {"calendar_id": CALENDAR, "event": EVENT})

    postponed = await run(harness, write_id)

    assert postponed["status"] == "pending"
    assert "503" in postponed["detail"]
    assert harness.emulator.live_events(CALENDAR) == {}
    assert metric(harness, "hookgate_google_writes_total", op="insert", outcome="retried") == 1
    assert await harness.google.writer.run_due() == 0, "not due again yet"


async def test_writes_to_one_event_run_in_order_under_one_lease(harness: Harness) -> None:
    event_id = await created(harness)
    path = f"events/{CALENDAR}/{event_id}"
    first = await submit(harness, "PATCH", path, {"event": {"summary": "First"}})
    second = await submit(harness, "PATCH", path, {"event": {"summary": "Second"}})
    workers = [WriteOutbox(harness.engine), WriteOutbox(harness.engine)]

    claimed = [await outbox.claim() for outbox in workers]

    assert [[write.id for write in writes] for writes in claimed] == [[first], []]
    await harness.google.writer.run_due()
    assert (await status(harness, first))["status"] == "pending", "leased by the first worker"
    await workers[0].finish(claimed[0][0], "failed", detail="test")
    await harness.google.writer.run_due()
    assert (await status(harness, second))["status"] == "done"
    assert harness.emulator.live_events(CALENDAR)[event_id].summary == "Second"


async def test_opening_a_channel_both_ways_writes_local_appointments_to_google(
    harness: Harness,
) -> None:
    local_id = new_event_id()
    async with harness.engine.begin() as connection:
        await connection.execute(
            insert(appointments),
            [
                {
                    "tenant": harness.source.tenant,
                    "calendar_id": CALENDAR,
                    "google_event_id": event_id,
                    "summary": "Booked locally",
                    "start_time": START,
                    "end_time": START + timedelta(hours=1),
                    "status": "confirmed",
                    "version": 1,
                }
                for event_id in (local_id, "Not-A-Google-Id")
            ],
        )

    opened = await harness.gateway.post(
        f"/admin/google/{harness.source.id}/channels",
        json={"calendar_id": CALENDAR, "sync_both_ways": True},
        headers=AUTH,
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["local_writes"] == 1
    await harness.settle()  # the first full sync, before the write ran
    assert (await harness.store(CALENDAR))[local_id]["deleted_at"] is None

    assert await harness.google.writer.run_due() == 1
    event = harness.emulator.live_events(CALENDAR)[local_id]
    assert (event.summary, event.start) == ("Booked locally", START)
    assert (await harness.store(CALENDAR))[local_id]["etag"] == event.etag
    again = await harness.gateway.post(
        f"/admin/google/{harness.source.id}/channels",
        json={"calendar_id": CALENDAR, "sync_both_ways": True},
        headers=AUTH,
    )
    assert again.json()["local_writes"] == 0


async def test_a_write_whose_worker_died_is_claimed_again_once_its_lease_lapses(
    harness: Harness,
) -> None:
    write_id = await submit(harness, "POST", "events", {"calendar_id": CALENDAR, "event": EVENT})
    died = WriteOutbox(harness.engine, lease=timedelta(0))  # its lease lapses at once
    (taken,) = await died.claim()

    assert [write.id for write in await WriteOutbox(harness.engine).claim()] == [write_id]
    assert not await died.finish(taken, "failed", detail="too late"), "no longer its lease"
    assert (await status(harness, write_id))["status"] == "pending"
