"""The Planning Center emulator through HTTP: people, rate limit, webhook subscriptions."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import httpx

from tests.emulators.conftest import Clock
from tests.emulators.flows import connect
from tests.emulators.pco import PcoOrganization
from tests.emulators.suite import ProviderEmulators

PERSON_CREATED = "people.v2.events.person.created"


async def _bearer(
    http: httpx.AsyncClient, providers: ProviderEmulators, org: PcoOrganization
) -> dict[str, str]:
    tokens = await connect(http, providers, "pco", providers.pco.account(org))
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_paging_250_people_returns_each_once_with_emails_and_phones(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    org = providers.pco.add_organization()
    people = providers.pco.add_people(org, 250)
    headers = await _bearer(http, providers, org)
    url: str | None = (
        f"{providers.api_base('pco')}/people/v2/people?per_page=100&include=emails,phone_numbers"
    )
    seen: list[str] = []
    included: set[tuple[str, str]] = set()
    while url is not None:
        page = (await http.get(url, headers=headers)).json()
        assert page["meta"]["total_count"] == 250
        seen += [person["id"] for person in page["data"]]
        included |= {
            (item["type"], item["relationships"]["person"]["data"]["id"])
            for item in page["included"]
        }
        url = page["links"].get("next")
        assert ("next" in page["meta"]) == (url is not None)

    assert sorted(seen) == sorted(person.id for person in people)
    assert len(seen) == 250
    assert included == {(kind, p.id) for p in people for kind in ("Email", "PhoneNumber")}


async def test_per_page_caps_at_100_and_one_gives_the_total(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    org = providers.pco.add_organization("Grace")
    providers.pco.add_people(org, 150)
    headers = await _bearer(http, providers, org)
    base = f"{providers.api_base('pco')}/people/v2"

    one = (await http.get(f"{base}/people", params={"per_page": 1}, headers=headers)).json()
    big = (await http.get(f"{base}/people", params={"per_page": 500}, headers=headers)).json()
    organization = (await http.get(base, headers=headers)).json()

    assert (one["meta"]["total_count"], one["meta"]["count"]) == (150, 1)
    assert big["meta"]["count"] == 100
    assert organization["data"]["attributes"]["name"] == "Grace"
    assert organization["data"]["id"] == org.id


async def test_where_updated_at_and_order_select_the_changed_people(
    clocked: tuple[ProviderEmulators, Clock], http: httpx.AsyncClient
) -> None:
    providers, clock = clocked
    pco = providers.pco
    org = pco.add_organization()
    people = pco.add_people(org, 5)
    clock.moment += timedelta(minutes=5)
    moment = clock.moment
    await pco.update_person(org, people[3].id, first_name="Changed", phones=["+15550001111"])
    headers = await _bearer(http, providers, org)

    page = (
        await http.get(
            f"{providers.api_base('pco')}/people/v2/people",
            params={
                "where[updated_at][gte]": moment.isoformat(),
                "order": "-updated_at",
                "include": "phone_numbers",
            },
            headers=headers,
        )
    ).json()

    assert [person["id"] for person in page["data"]] == [people[3].id]
    assert page["data"][0]["attributes"]["first_name"] == "Changed"
    assert page["included"][0]["attributes"]["e164"] == "+15550001111"


async def test_a_personal_access_token_is_http_basic(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    org = providers.pco.add_organization()
    app_id, secret = providers.pco.add_personal_access_token(org)
    url = f"{providers.api_base('pco')}/people/v2"

    good = await http.get(url, auth=(app_id, secret))
    bad = await http.get(url, auth=(app_id, "wrong"))

    assert good.json()["data"]["id"] == org.id
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["status"] == "401"


async def test_the_rate_limit_answers_429_with_retry_after_and_headers(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    pco = providers.pco
    org = pco.add_organization()
    pco.rate_limit.limit = 3
    app_id, secret = pco.add_personal_access_token(org)
    url = f"{providers.api_base('pco')}/people/v2/people"

    answers = [await http.get(url, auth=(app_id, secret)) for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    first, refused = answers[0], answers[3]
    assert first.headers["X-PCO-API-Request-Rate-Limit"] == "3"
    assert first.headers["X-PCO-API-Request-Rate-Period"] == "20"
    assert first.headers["X-PCO-API-Request-Rate-Count"] == "1"
    assert 1 <= int(refused.headers["Retry-After"]) <= 20
    assert refused.json()["errors"][0]["detail"] == (
        "Rate limit exceeded: 4 of 3 requests per 20 seconds"
    )
    assert pco.rate_limit.counters.refused == 2
    assert pco.rate_limit.counters.ignored_retry_after == 1


async def test_deep_offsets_have_the_stricter_limit(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    pco = providers.pco
    org = pco.add_organization()
    app_id, secret = pco.add_personal_access_token(org)
    url = f"{providers.api_base('pco')}/people/v2/people"
    deep = await http.get(url, params={"offset": 30_001}, auth=(app_id, secret))
    assert deep.headers["X-PCO-API-Request-Rate-Limit"] == "75"
    assert pco.rate_limit.counters.requests == 0


async def test_webhook_subscriptions_each_get_their_own_secret(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    org = providers.pco.add_organization()
    headers = await _bearer(http, providers, org)
    url = f"{providers.api_base('pco')}/webhooks/v2/webhook_subscriptions"

    made = [
        await http.post(
            url,
            json={
                "data": {"attributes": {"name": name, "url": "https://h.example/w", "active": True}}
            },
            headers=headers,
        )
        for name in (PERSON_CREATED, "people.v2.events.person.updated")
    ]
    listed = (await http.get(url, headers=headers)).json()
    deleted = await http.delete(f"{url}/{made[0].json()['data']['id']}", headers=headers)
    after = (await http.get(url, headers=headers)).json()

    assert [answer.status_code for answer in made] == [201, 201]
    secrets = {answer.json()["data"]["attributes"]["authenticity_secret"] for answer in made}
    assert len(secrets) == 2
    assert listed["meta"]["total_count"] == 2
    assert deleted.status_code == 204
    assert [item["attributes"]["name"] for item in after["data"]] == [
        "people.v2.events.person.updated"
    ]


async def test_duplicate_subscriptions_are_kept_unless_configured_and_need_the_scope(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    pco = providers.pco
    org = pco.add_organization()
    headers = await _bearer(http, providers, org)
    url = f"{providers.api_base('pco')}/webhooks/v2/webhook_subscriptions"
    body = {"data": {"attributes": {"name": PERSON_CREATED, "url": "https://h.example/w"}}}

    twice = [(await http.post(url, json=body, headers=headers)).status_code for _ in range(2)]
    pco.reject_duplicate_subscriptions = True
    third = await http.post(url, json=body, headers=headers)
    _, people_only = pco.oauth.grant("hookgate-pco", pco.account(org), ["people"])
    unscoped = await http.post(url, json=body, headers={"Authorization": f"Bearer {people_only}"})

    assert twice == [201, 201]
    assert third.status_code == 422
    assert unscoped.status_code == 403


async def test_changes_are_delivered_signed_with_the_subscription_secret(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    pco = providers.pco
    org = pco.add_organization()
    headers = await _bearer(http, providers, org)
    created = await http.post(
        f"{providers.api_base('pco')}/webhooks/v2/webhook_subscriptions",
        json={"data": {"attributes": {"name": PERSON_CREATED, "url": "https://h.example/w"}}},
        headers=headers,
    )
    secret = created.json()["data"]["attributes"]["authenticity_secret"]
    posted: list[tuple[str, dict[str, str], bytes]] = []

    async def deliver(url: str, headers: dict[str, str], body: bytes) -> int:
        posted.append((url, headers, body))
        return 200

    pco.deliver = deliver
    person = await pco.add_person(org, "Ada", "Lovelace", emails=["ada@example.com"])

    [(url, sent, body)] = posted
    assert url == "https://h.example/w"
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert sent["X-PCO-Webhooks-Authenticity"] == expected
    delivery = json.loads(body)["data"][0]
    assert delivery["attributes"]["name"] == PERSON_CREATED
    assert json.loads(delivery["attributes"]["payload"])["data"]["id"] == person.id
    assert delivery["relationships"]["organization"]["data"]["id"] == org.id
