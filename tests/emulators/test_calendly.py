"""The Calendly emulator through HTTP: events, invitees, webhook subscriptions, limits."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.emulators.calendly import CalendlyOrganization, CalendlyUser
from tests.emulators.flows import connect
from tests.emulators.suite import ProviderEmulators

START = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


async def _owner(
    http: httpx.AsyncClient, providers: ProviderEmulators, plan: str = "standard"
) -> tuple[CalendlyOrganization, CalendlyUser, dict[str, str]]:
    org = providers.calendly.add_organization(plan=plan)
    user = providers.calendly.add_user(org)
    tokens = await connect(http, providers, "calendly", providers.calendly.account(user))
    return org, user, {"Authorization": f"Bearer {tokens['access_token']}"}


async def _collect(
    http: httpx.AsyncClient, url: str, params: dict[str, Any], headers: dict[str, str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = (await http.get(url, params=params, headers=headers)).json()
    while True:
        items += page["collection"]
        if page["pagination"]["next_page"] is None:
            return items
        page = (await http.get(page["pagination"]["next_page"], headers=headers)).json()


async def test_250_scheduled_events_page_once_each(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    org, user, headers = await _owner(http, providers)
    events = providers.calendly.add_events(user, 250, START)
    url = f"{providers.api_base('calendly')}/scheduled_events"

    seen = await _collect(
        http, url, {"organization": providers.calendly.org_uri(org), "count": 100}, headers
    )

    assert len(seen) == 250
    assert {item["uri"] for item in seen} == {providers.calendly.event_uri(e) for e in events}
    assert [item["start_time"] for item in seen] == sorted(item["start_time"] for item in seen)


async def test_start_time_window_status_and_count_limits(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    calendly = providers.calendly
    _, user, headers = await _owner(http, providers)
    events = calendly.add_events(user, 10, START)
    await calendly.cancel_event(events[2])
    url = f"{providers.api_base('calendly')}/scheduled_events"
    window = {
        "user": calendly.user_uri(user),
        "min_start_time": (START + timedelta(hours=2)).isoformat(),
        "max_start_time": (START + timedelta(hours=5)).isoformat(),
    }

    inside = (await http.get(url, params=window, headers=headers)).json()["collection"]
    active = (await http.get(url, params=window | {"status": "active"}, headers=headers)).json()[
        "collection"
    ]
    too_many = await http.get(url, params=window | {"count": 101}, headers=headers)
    neither = await http.get(url, headers=headers)

    assert [item["uri"] for item in inside] == [calendly.event_uri(e) for e in events[2:5]]
    assert inside[0]["status"] == "canceled"
    assert [item["uri"] for item in active] == [calendly.event_uri(e) for e in events[3:5]]
    assert too_many.status_code == 400
    assert too_many.json()["details"][0]["parameter"] == "count"
    assert neither.status_code == 400


async def test_invitees_page_the_same_way(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    calendly = providers.calendly
    _, user, headers = await _owner(http, providers)
    event = await calendly.add_event(
        user, START, invitees=[(f"Guest {n}", f"g{n}@example.com") for n in range(7)]
    )
    url = f"{calendly.event_uri(event)}/invitees"

    seen = await _collect(http, url, {"count": 3}, headers)

    assert sorted(item["email"] for item in seen) == sorted(f"g{n}@example.com" for n in range(7))


async def test_event_types_page_and_are_read_one_by_one(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    org, user, headers = await _owner(http, providers)
    made = [providers.calendly.add_event_type(user, f"Session {n:02d}") for n in range(5)]
    url = f"{providers.api_base('calendly')}/event_types"

    listed = await _collect(
        http, url, {"organization": providers.calendly.org_uri(org), "count": 2}, headers
    )
    assert [item["name"] for item in listed] == [event_type.name for event_type in made]
    one = await http.get(f"{url}/{made[0].uuid}", headers=headers)
    assert one.json()["resource"]["scheduling_url"].endswith("/session-00")
    missing = await http.get(f"{url}/NOPE", headers=headers)
    assert missing.status_code == 404
    no_filter = await http.get(url, headers=headers)
    assert no_filter.status_code == 400


async def test_a_plain_user_cannot_list_the_organization(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    calendly = providers.calendly
    org = calendly.add_organization()
    member = calendly.add_user(org, "Member", role="user")
    token = calendly.add_personal_access_token(member)
    answer = await http.get(
        f"{providers.api_base('calendly')}/scheduled_events",
        params={"organization": calendly.org_uri(org)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 403


async def test_webhook_subscriptions_create_conflict_list_disable_delete(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    calendly = providers.calendly
    org, _, headers = await _owner(http, providers)
    url = f"{providers.api_base('calendly')}/webhook_subscriptions"
    body = {
        "url": "https://h.example/webhooks/calendly/src_1",
        "events": ["invitee.created", "invitee.canceled"],
        "organization": calendly.org_uri(org),
        "scope": "organization",
        "signing_key": "key-from-hookgate",
    }
    listing = {"organization": calendly.org_uri(org), "scope": "organization"}

    created = await http.post(url, json=body, headers=headers)
    duplicate = await http.post(url, json=body, headers=headers)
    [subscription] = org.subscriptions.values()
    calendly.disable_subscription(subscription)
    listed = (await http.get(url, params=listing, headers=headers)).json()["collection"]
    deleted = await http.delete(created.json()["resource"]["uri"], headers=headers)
    after = (await http.get(url, params=listing, headers=headers)).json()["collection"]

    assert created.status_code == 201
    assert created.json()["resource"]["state"] == "active"
    assert "signing_key" not in created.json()["resource"]
    assert subscription.signing_key == "key-from-hookgate"
    assert duplicate.status_code == 409
    assert [(item["state"], item["retry_started_at"] is not None) for item in listed] == [
        ("disabled", True)
    ]
    assert deleted.status_code == 204
    assert after == []


async def test_a_plan_without_webhooks_is_403(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    org, _, headers = await _owner(http, providers, plan="free")
    answer = await http.post(
        f"{providers.api_base('calendly')}/webhook_subscriptions",
        json={
            "url": "https://h.example/w",
            "events": ["invitee.created"],
            "organization": providers.calendly.org_uri(org),
            "scope": "organization",
        },
        headers=headers,
    )
    assert answer.status_code == 403


async def test_the_per_user_limit_answers_429_with_the_rate_headers(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    calendly = providers.calendly
    calendly.free_limit.limit = 2
    _, _, headers = await _owner(http, providers, plan="free")
    url = f"{providers.api_base('calendly')}/users/me"

    answers = [await http.get(url, headers=headers) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "2"
    assert answers[0].headers["X-RateLimit-Remaining"] == "1"
    assert 1 <= int(answers[2].headers["X-RateLimit-Reset"]) <= 60
    assert answers[2].headers["Retry-After"] == answers[2].headers["X-RateLimit-Reset"]


async def test_invitee_changes_are_delivered_signed(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    calendly = providers.calendly
    org, user, headers = await _owner(http, providers)
    await http.post(
        f"{providers.api_base('calendly')}/webhook_subscriptions",
        json={
            "url": "https://h.example/w",
            "events": ["invitee.created"],
            "organization": calendly.org_uri(org),
            "scope": "organization",
            "signing_key": "k1",
        },
        headers=headers,
    )
    posted: list[tuple[dict[str, str], bytes]] = []

    async def deliver(url: str, sent: dict[str, str], body: bytes) -> int:
        assert url == "https://h.example/w"
        posted.append((sent, body))
        return 200

    calendly.deliver = deliver
    event = await calendly.add_event(user, START, invitees=[("Ann Lee", "ann@example.com")])
    await calendly.cancel_event(event)  # not subscribed: no delivery

    [(sent, body)] = posted
    stamp, signature = (
        part.split("=", 1)[1] for part in sent["Calendly-Webhook-Signature"].split(",")
    )
    assert signature == hmac.new(b"k1", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    delivery = json.loads(body)
    assert delivery["event"] == "invitee.created"
    assert delivery["payload"]["email"] == "ann@example.com"
    assert delivery["payload"]["scheduled_event"]["uri"] == calendly.event_uri(event)
