"""The LeadConnector emulator through HTTP: contacts search, location, limits, tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.emulators.flows import connect
from tests.emulators.ghl import API_VERSION, GhlLocation
from tests.emulators.suite import ProviderEmulators


async def _headers(
    http: httpx.AsyncClient, providers: ProviderEmulators, location: GhlLocation
) -> dict[str, str]:
    tokens = await connect(http, providers, "ghl", providers.ghl.account(location))
    return {"Authorization": f"Bearer {tokens['access_token']}", "Version": API_VERSION}


async def _search(
    http: httpx.AsyncClient, providers: ProviderEmulators, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await http.post(
        f"{providers.api_base('ghl')}/contacts/search", json=body, headers=headers
    )


async def test_search_after_pages_250_contacts_each_once(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    location = providers.ghl.add_location()
    contacts = providers.ghl.add_contacts(location, 250)
    providers.ghl.add_contacts(providers.ghl.add_location("Other"), 3)
    headers = await _headers(http, providers, location)
    seen: list[str] = []
    cursor: list[Any] | None = None
    while True:
        extra = {"searchAfter": cursor} if cursor is not None else {}
        page = (
            await _search(http, providers, headers, locationId=location.id, pageLimit=100, **extra)
        ).json()
        assert page["total"] == 250
        if not page["contacts"]:
            break
        seen += [contact["id"] for contact in page["contacts"]]
        cursor = page["contacts"][-1]["searchAfter"]

    assert len(seen) == 250
    assert set(seen) == {contact.id for contact in contacts}


async def test_page_numbers_stop_at_10000_records_and_required_fields_are_422(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    location = providers.ghl.add_location()
    providers.ghl.add_contacts(location, 5)
    headers = await _headers(http, providers, location)

    second = await _search(http, providers, headers, locationId=location.id, pageLimit=2, page=2)
    too_deep = await _search(
        http, providers, headers, locationId=location.id, pageLimit=500, page=21
    )
    no_limit = await _search(http, providers, headers, locationId=location.id)

    assert len(second.json()["contacts"]) == 2
    assert too_deep.status_code == 422
    assert no_limit.status_code == 422


async def test_a_date_updated_range_finds_the_changed_contacts(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    ghl = providers.ghl
    location = ghl.add_location()
    contacts = ghl.add_contacts(location, 4)
    since = contacts[-1].date_updated.isoformat()
    changed = await ghl.update_contact(location, contacts[1].id, first_name="Changed")
    headers = await _headers(http, providers, location)

    page = (
        await _search(
            http,
            providers,
            headers,
            locationId=location.id,
            pageLimit=10,
            filters=[{"field": "dateUpdated", "operator": "range", "value": {"gt": since}}],
        )
    ).json()

    assert [contact["id"] for contact in page["contacts"]] == [changed.id]
    assert page["contacts"][0]["firstName"] == "Changed"


async def test_the_version_header_is_required(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    location = providers.ghl.add_location()
    headers = await _headers(http, providers, location)
    del headers["Version"]
    answer = await http.get(f"{providers.api_base('ghl')}/locations/{location.id}", headers=headers)
    assert answer.status_code == 400


async def test_a_private_integration_token_reads_only_its_location(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    ghl = providers.ghl
    mine, other = ghl.add_location("Mine"), ghl.add_location("Other")
    token = ghl.add_private_integration_token(mine)
    headers = {"Authorization": f"Bearer {token}", "Version": API_VERSION}
    base = providers.api_base("ghl")

    own = await http.get(f"{base}/locations/{mine.id}", headers=headers)
    foreign = await http.get(f"{base}/locations/{other.id}", headers=headers)
    unknown = await http.get(
        f"{base}/locations/{mine.id}",
        headers={"Authorization": "Bearer pit-unknown", "Version": API_VERSION},
    )

    assert own.json()["location"]["name"] == "Mine"
    assert foreign.status_code == 403
    assert unknown.status_code == 401


async def test_the_burst_limit_is_per_location_with_the_rate_headers(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    ghl = providers.ghl
    ghl.burst_limit.limit = 2
    busy, quiet = ghl.add_location("Busy"), ghl.add_location("Quiet")
    busy_headers = await _headers(http, providers, busy)
    quiet_headers = await _headers(http, providers, quiet)
    base = providers.api_base("ghl")

    answers = [
        await http.get(f"{base}/locations/{busy.id}", headers=busy_headers) for _ in range(3)
    ]
    other = await http.get(f"{base}/locations/{quiet.id}", headers=quiet_headers)

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[0].headers["X-RateLimit-Max"] == "2"
    assert answers[0].headers["X-RateLimit-Remaining"] == "1"
    assert answers[0].headers["X-RateLimit-Interval-Milliseconds"] == "10000"
    assert answers[0].headers["X-RateLimit-Limit-Daily"] == "200000"
    assert answers[0].headers["X-RateLimit-Daily-Remaining"] == "199999"
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 10
    assert other.status_code == 200


async def test_the_daily_cap_refuses_too(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    ghl = providers.ghl
    ghl.daily_limit.limit = 1
    location = ghl.add_location()
    headers = await _headers(http, providers, location)
    url = f"{providers.api_base('ghl')}/locations/{location.id}"
    statuses = [(await http.get(url, headers=headers)).status_code for _ in range(2)]
    assert statuses == [200, 429]


async def test_installed_locations_post_signed_events_to_the_apps_one_url(
    providers: ProviderEmulators,
) -> None:
    ghl = providers.ghl
    first, second = ghl.add_location("First"), ghl.add_location("Second")
    posted: list[tuple[str, dict[str, str], bytes]] = []

    async def deliver(url: str, headers: dict[str, str], body: bytes) -> int:
        posted.append((url, headers, body))
        return 200

    ghl.deliver, ghl.webhook_url = deliver, "https://h.example/webhooks/ghl"
    await ghl.install(first)
    contact = await ghl.add_contact(first, "Ann", "Lee", phone="+15550100000")
    await ghl.add_contact(second, "Not", "Installed")
    await ghl.uninstall(first)

    public_key = serialization.load_pem_public_key(ghl.public_key_pem.encode())
    assert isinstance(public_key, Ed25519PublicKey)
    kinds = []
    for url, headers, body in posted:
        assert url == "https://h.example/webhooks/ghl"
        public_key.verify(base64.b64decode(headers["x-ghl-signature"]), body)
        payload = json.loads(body)
        assert payload["locationId"] == first.id
        assert {"timestamp", "webhookId"} <= set(payload)
        kinds.append((payload["type"], payload.get("id")))
    assert kinds == [("AppInstall", None), ("ContactCreate", contact.id), ("AppUninstall", None)]


async def test_injected_faults_answer_after_auth(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    location = providers.ghl.add_location()
    headers = await _headers(http, providers, location)
    providers.ghl.faults.inject(503, times=1, after=1, retry_after="2")
    url = f"{providers.api_base('ghl')}/locations/{location.id}"
    answers = [await http.get(url, headers=headers) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 503, 200]
    assert answers[1].headers["Retry-After"] == "2"
