"""410 recovery, token refresh, revoked credentials, channel renewal, refused tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from consumers.google.sync import SyncTarget
from gateway.google.channels import (
    RENEWAL_CLAIM,
    ChannelApi,
    ChannelInfo,
    ChannelManager,
    WatchResult,
)
from gateway.store.secretbox import SecretBox
from schemas.google_store import google_channels
from tests.google.conftest import ADMIN_TOKEN, SECRET_KEY, Harness
from tests.google.test_sync import CALENDAR, START, open_channel
from verifiers.google import mint_channel_token, notification_headers

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def seed(harness: Harness, count: int) -> list[str]:
    await open_channel(harness)
    ids = []
    for n in range(count):
        event = await harness.emulator.create_event(
            CALENDAR, summary=f"E{n}", start=START + timedelta(hours=n)
        )
        ids.append(event.id)
    await harness.settle()
    await harness.assert_store_matches(CALENDAR)
    return ids


async def test_gone_sync_token_recovers_with_a_full_sync_including_deletions(
    harness: Harness,
) -> None:
    ids = await seed(harness, 10)
    emulator = harness.emulator
    emulator.deliver = None  # change the calendar silently, as if notifications were lost
    await emulator.cancel_event(CALENDAR, ids[0])
    emulator.calendar(CALENDAR).events.pop(ids[1])  # gone without a trace (e.g. purged)
    await emulator.update_event(CALENDAR, ids[2], summary="renamed")
    emulator.invalidate_sync_tokens(CALENDAR)
    result = await harness.google.sync.run(_target(harness))
    assert result.full
    assert result.removed == 2
    await harness.assert_store_matches(CALENDAR)
    rows = await harness.store(CALENDAR)
    assert rows[ids[1]]["deleted_at"] is not None
    assert rows[ids[2]]["summary"] == "renamed"
    # the new token works incrementally again
    await emulator.create_event(CALENDAR, summary="after", start=START)
    assert not (await harness.google.sync.run(_target(harness))).full
    await harness.assert_store_matches(CALENDAR)


async def test_expired_access_token_is_refreshed_once_and_the_sync_continues(
    harness: Harness,
) -> None:
    await seed(harness, 3)
    emulator = harness.emulator
    refreshes = emulator.counters.token_refreshes
    emulator.expire_access_tokens()
    await emulator.create_event(CALENDAR, summary="later", start=START)
    await harness.settle()
    assert emulator.counters.token_refreshes == refreshes + 1
    await harness.assert_store_matches(CALENDAR)
    stored = await harness.sources.credentials(harness.source.id)
    assert stored["access_token"].startswith("ya29.")


async def test_rate_limits_and_server_errors_are_retried(harness: Harness) -> None:
    await seed(harness, 2)
    emulator = harness.emulator
    emulator.inject(429, retry_after="0")
    emulator.inject(403, reason="rateLimitExceeded")
    emulator.inject(503)
    await emulator.create_event(CALENDAR, summary="despite faults", start=START)
    await harness.settle()
    assert emulator.counters.faults_served == 3
    await harness.assert_store_matches(CALENDAR)


async def test_revoked_refresh_token_marks_the_source_error_and_keeps_the_store(
    harness: Harness,
) -> None:
    await seed(harness, 4)
    before = await harness.store(CALENDAR)
    emulator = harness.emulator
    refresh_failures: list[str] = []
    harness.google.refresh_failure_listeners.append(refresh_failures.append)
    emulator.revoke_refresh_token(harness.account.refresh_token)
    await emulator.create_event(CALENDAR, summary="unseen", start=START)
    await harness.settle()
    response = await harness.gateway.get(f"/admin/sources/{harness.source.id}", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "error"
    assert "invalid_grant" in body["status_detail"]
    assert "reconnect" in body["status_detail"]
    assert harness.account.refresh_token not in response.text
    assert await harness.store(CALENDAR) == before
    assert refresh_failures == ["revoked"]


async def test_channel_close_to_expiry_is_renewed_and_the_old_one_stopped(
    harness: Harness,
) -> None:
    channel = await open_channel(harness)
    assert "token" not in channel
    manager = _renewer(harness, datetime.now(UTC))
    renewed = await manager.renew_due()
    assert len(renewed) == 1
    emulator = harness.emulator
    assert emulator.channels[str(channel["id"])].stopped
    assert [c.id for c in emulator.active_channels(CALENDAR)] == [renewed[0].id]
    async with harness.engine.connect() as connection:
        old = (
            await connection.execute(
                select(google_channels).where(google_channels.c.id == channel["id"])
            )
        ).one()
    assert old.state == "stopped"
    assert old.replaced_by == renewed[0].id
    # the new channel's notifications are accepted and synced
    await emulator.create_event(CALENDAR, summary="via renewed", start=START)
    assert emulator.delivered[-1][2] == 200
    await harness.settle()
    await harness.assert_store_matches(CALENDAR)
    deleted = await harness.gateway.delete(
        f"/admin/google/{harness.source.id}/channels/{renewed[0].id}", headers=AUTH
    )
    assert deleted.status_code == 200
    assert deleted.json()["state"] == "stopped"
    assert emulator.active_channels(CALENDAR) == []


async def test_forged_expired_and_other_channel_tokens_are_refused(harness: Harness) -> None:
    channel = await open_channel(harness)
    published = harness.publisher.published  # the opening's change
    source_id = harness.source.id
    url = f"/webhooks/google/{source_id}"
    expires = datetime.now(UTC) + timedelta(hours=1)
    resource = str(channel["resource_id"])

    def headers(token: str, channel_id: str = str(channel["id"])) -> dict[str, str]:
        return notification_headers(
            token,
            channel_id=channel_id,
            resource_id=resource,
            state="exists",
            message_number=7,
            calendar_id=CALENDAR,
        )

    forged = mint_channel_token(
        [b"k" * 32], source_id=source_id, channel_id=str(channel["id"]), expires_at=expires
    )
    expired = mint_channel_token(
        _keys(),
        source_id=source_id,
        channel_id=str(channel["id"]),
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    other = mint_channel_token(
        _keys(), source_id=source_id, channel_id="another-channel", expires_at=expires
    )
    for token, code in (
        (forged, "invalid_token"),
        (expired, "expired_token"),
        (other, "channel_mismatch"),
    ):
        response = await harness.gateway.post(url, headers=headers(token), content=b"")
        assert response.status_code == 401
        assert response.json()["error"] == code
    assert harness.publisher.published == published


async def test_admin_errors_are_json_with_a_code(harness: Harness) -> None:
    missing = await harness.gateway.post(
        "/admin/google/src_nope/channels", json={"calendar_id": "primary"}, headers=AUTH
    )
    assert missing.status_code == 404
    assert missing.json()["error"] == "unknown_source"
    bad = await harness.gateway.post(
        f"/admin/google/{harness.source.id}/channels", content=b"[", headers=AUTH
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "malformed_body"
    unknown = await harness.gateway.delete(
        f"/admin/google/{harness.source.id}/channels/nope", headers=AUTH
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown_channel"


def _keys() -> tuple[bytes, ...]:
    return SecretBox([SECRET_KEY]).channel_token_keys


def _renewer(
    harness: Harness,
    now: datetime | None = None,
    api_for: Callable[[str], ChannelApi] | None = None,
) -> ChannelManager:
    """A gateway worker's channel manager for which every channel of a 7-day TTL is due
    for renewal; its clock stands at `now` (if given)."""
    return ChannelManager(
        harness.engine,
        harness.sources,
        api_for or harness.google.client_for,
        public_url=harness.public_url,
        token_keys=_keys(),
        renew_before=timedelta(days=8),
        clock=(lambda: now) if now is not None else (lambda: datetime.now(UTC)),
    )


def _target(harness: Harness) -> SyncTarget:
    return SyncTarget(harness.source.id, harness.source.tenant, CALENDAR)


async def test_workers_renewing_at_once_open_one_channel_per_due_channel(
    harness: Harness,
) -> None:
    """Every `serve` worker (and every pod) runs the renewal loop, all of them as soon
    as they start: a due channel is claimed in the store, so one of them renews it."""
    channel = await open_channel(harness)
    other = await open_channel(harness, "other@example.com")
    now = datetime.now(UTC)
    workers = [_renewer(harness, now) for _ in range(4)]
    watches = harness.emulator.counters.watch_calls
    renewed = await asyncio.gather(*(worker.renew_due() for worker in workers))

    assert sum(len(found) for found in renewed) == 2
    assert harness.emulator.counters.watch_calls == watches + 2
    for calendar, old in ((CALENDAR, channel), ("other@example.com", other)):
        live = harness.emulator.active_channels(calendar)
        assert len(live) == 1, f"one channel watches {calendar}"
        assert harness.emulator.channels[str(old["id"])].stopped
    async with harness.engine.connect() as connection:
        states = (
            await connection.execute(select(google_channels.c.id, google_channels.c.state))
        ).all()
    assert sorted(state for _, state in states) == ["active", "active", "stopped", "stopped"]


async def test_a_renewal_claim_left_by_a_dead_worker_is_taken_again_later(
    harness: Harness,
) -> None:
    channel = await open_channel(harness)
    claimed_at = datetime.now(UTC)
    async with harness.engine.begin() as connection:  # a worker claimed it, then died
        await connection.execute(
            update(google_channels)
            .where(google_channels.c.id == channel["id"])
            .values(renewing_since=claimed_at)
        )

    still_claimed = _renewer(harness, claimed_at + RENEWAL_CLAIM / 2)
    assert await still_claimed.renew_due() == []
    renewed = await _renewer(harness, claimed_at + RENEWAL_CLAIM * 1.5).renew_due()
    assert [r.calendar_id for r in renewed] == [CALENDAR]
    assert harness.emulator.channels[str(channel["id"])].stopped


async def test_a_failed_renewal_gives_its_claim_back(harness: Harness) -> None:
    await open_channel(harness)
    worker = _renewer(harness, datetime.now(UTC))
    harness.emulator.inject(400, reason="invalid")  # events.watch is refused once
    assert await worker.renew_due() == []
    renewed = await worker.renew_due()  # the next pass, at once: no claim holds it off
    assert [r.calendar_id for r in renewed] == [CALENDAR]


async def test_opening_a_channel_again_replaces_the_calendars_earlier_one(
    harness: Harness,
) -> None:
    """A provisioning script run twice, or a channel re-opened because its notifications
    stopped: one channel watches the calendar afterwards, not two renewed forever."""
    first = await open_channel(harness)
    elsewhere = await open_channel(harness, "other@example.com")
    second = await open_channel(harness)

    assert second["id"] != first["id"]
    emulator = harness.emulator
    assert [c.id for c in emulator.active_channels(CALENDAR)] == [second["id"]]
    assert emulator.channels[str(first["id"])].stopped
    assert [c.id for c in emulator.active_channels("other@example.com")] == [elsewhere["id"]]
    listed = await harness.gateway.get(f"/admin/google/{harness.source.id}/channels", headers=AUTH)
    assert {c["id"] for c in listed.json()["channels"]} == {second["id"], elsewhere["id"]}
    async with harness.engine.connect() as connection:
        old = (
            await connection.execute(
                select(google_channels).where(google_channels.c.id == first["id"])
            )
        ).one()
    assert (old.state, old.replaced_by) == ("stopped", second["id"])
    await emulator.create_event(CALENDAR, summary="via the new channel", start=START)
    await harness.settle()
    await harness.assert_store_matches(CALENDAR)


async def test_a_channel_google_will_not_stop_is_still_replaced(harness: Harness) -> None:
    first = await open_channel(harness)
    harness.emulator.inject(400, reason="invalid", after=1)  # watch answers, stop refused
    second = await open_channel(harness)

    assert not harness.emulator.channels[str(first["id"])].stopped, "Google kept it"
    listed = await harness.gateway.get(f"/admin/google/{harness.source.id}/channels", headers=AUTH)
    assert [c["id"] for c in listed.json()["channels"]] == [second["id"]], "marked stopped here"


async def test_a_renewed_channel_google_will_not_stop_is_not_renewed_again(
    harness: Harness,
) -> None:
    first = await open_channel(harness)
    now = datetime.now(UTC)
    harness.emulator.inject(400, reason="invalid", after=1)  # watch answers, stop refused
    renewed = await _renewer(harness, now).renew_due()

    assert not harness.emulator.channels[str(first["id"])].stopped, "Google kept it"
    listed = await harness.gateway.get(f"/admin/google/{harness.source.id}/channels", headers=AUTH)
    assert [c["id"] for c in listed.json()["channels"]] == [renewed[0].id], "marked stopped here"
    later = _renewer(harness, now + RENEWAL_CLAIM * 2)
    assert len(await later.renew_due()) == 1, "the successor, due in turn; not the old one"
    assert len(harness.emulator.active_channels(CALENDAR)) == 2, "the old one only lapses"


class _GatedApi:
    """A worker's Calendar API whose `watch` waits for `gate` (setting `entered` first)."""

    def __init__(self, api: ChannelApi, entered: asyncio.Event, gate: asyncio.Event) -> None:
        self._api, self._entered, self._gate = api, entered, gate

    async def watch(
        self, calendar_id: str, *, channel_id: str, address: str, token: str, expires_at: datetime
    ) -> WatchResult:
        self._entered.set()
        await self._gate.wait()
        return await self._api.watch(
            calendar_id, channel_id=channel_id, address=address, token=token, expires_at=expires_at
        )

    async def stop_channel(self, channel_id: str, resource_id: str) -> None:
        await self._api.stop_channel(channel_id, resource_id)


async def _live(harness: Harness) -> tuple[list[str], list[str]]:
    """The ids of the calendar's channels active at Google, and of those the store lists."""
    listed = await harness.gateway.get(f"/admin/google/{harness.source.id}/channels", headers=AUTH)
    return (
        [channel.id for channel in harness.emulator.active_channels(CALENDAR)],
        [channel["id"] for channel in listed.json()["channels"]],
    )


async def test_opening_a_channel_while_a_worker_renews_it_leaves_one_channel(
    harness: Harness,
) -> None:
    """The admin API re-opens a calendar's channel while a worker is renewing it (so the
    re-opening cannot claim it): both open a successor, and the one opened later (here
    the admin's: the worker began first) is the calendar's one channel afterwards."""
    old = await open_channel(harness)
    entered, gate = asyncio.Event(), asyncio.Event()
    worker = _renewer(
        harness,
        api_for=lambda source_id: _GatedApi(harness.google.client_for(source_id), entered, gate),
    )
    renewal = asyncio.create_task(worker.renew_due())
    await entered.wait()  # the worker holds its claim and is opening the successor
    reopened = await open_channel(harness)
    gate.set()

    assert await renewal == [], "its successor was replaced at once"
    assert await _live(harness) == ([reopened["id"]], [reopened["id"]])
    emulator = harness.emulator
    (successor,) = set(emulator.channels) - {old["id"], reopened["id"]}
    assert emulator.channels[successor].stopped
    assert emulator.channels[str(old["id"])].stopped
    async with harness.engine.connect() as connection:
        replaced = dict(
            (
                await connection.execute(
                    select(google_channels.c.id, google_channels.c.replaced_by)
                )
            ).all()
        )
    assert replaced == {old["id"]: successor, successor: reopened["id"], reopened["id"]: None}


class _ListingTogether(ChannelManager):
    """A channel manager that lists channels only once every racing caller is ready to."""

    barrier: asyncio.Barrier

    async def active(self, source_id: str | None = None) -> list[ChannelInfo]:
        await self.barrier.wait()
        return await super().active(source_id)


async def test_two_openings_at_once_leave_the_newest_channel(harness: Harness) -> None:
    """Two admin calls (two workers) open a channel on the calendar at once, each stored
    before either looks for the channels to replace: the newer one stays, not none."""
    old = await open_channel(harness)
    barrier = asyncio.Barrier(2)
    workers = []
    for _ in range(2):
        worker = _ListingTogether(
            harness.engine,
            harness.sources,
            harness.google.client_for,
            public_url=harness.public_url,
            token_keys=_keys(),
        )
        worker.barrier = barrier
        workers.append(worker)
    opened = await asyncio.gather(*(w.watch(harness.source.id, CALENDAR) for w in workers))

    newest = max(opened, key=lambda channel: (channel.created_at, channel.id))
    older = next(channel for channel in opened if channel is not newest)
    assert (newest.state, older.state) == ("active", "stopped")
    assert await _live(harness) == ([newest.id], [newest.id])
    assert harness.emulator.channels[older.id].stopped
    assert harness.emulator.channels[str(old["id"])].stopped
