"""`GET /admin/providers`: each provider's template, its JSON Schemas valid and the very
ones `POST`/`PATCH /admin/sources` check against (400 `invalid_source` naming the field)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from consumers.stack import handled_event_types
from gateway.ingress.providers import PROVIDERS
from gateway.runtime.serve import build_app
from tests.fixtures.gateway import RunningGateway, make_settings, running_gateway

GOOGLE = {"client_id": "cid", "client_secret": "g-secret", "refresh_token": "r-token"}
GHL = {"private_integration_token": "pit-1", "location_id": "loc-1"}

CREDENTIALS = [
    ("pco", {"app_id": "a1", "secret": "s1"}, {"app_id": "a1"}, "credentials.secret"),
    ("ghl", GHL, {"private_integration_token": "pit-1"}, "credentials.location_id"),
    (
        "calendly",
        {"personal_access_token": "pat-1"},
        {"personal_access_token": "pat-1", "scope": "all"},
        "credentials.scope",
    ),
    ("google", GOOGLE, GOOGLE | {"refresh_token": 5}, "credentials.refresh_token"),
    ("stripe", {"secret_key": "sk_test_1"}, {"secret_key": "pk_test_1"}, "credentials.secret_key"),
]
"""Per provider: credentials it takes, credentials it refuses, the field refused."""

OPTIONS = [
    ("pco", {"default_region": "GB", "note": "kept"}, {"default_region": "GBR"}, "default_region"),
    ("ghl", {"location_id": "loc-2"}, {"location_id": 5}, "location_id"),
    ("stripe", {"refund_on_cancel": True}, {"refund_on_cancel": "sometimes"}, "refund_on_cancel"),
]
"""Per provider with options: options it takes, options it refuses, the option refused."""


async def templates(gateway: RunningGateway) -> dict[str, dict[str, Any]]:
    response = await gateway.admin.get("/admin/providers")
    assert response.status_code == 200
    return {template["name"]: template for template in response.json()["providers"]}


async def test_every_provider_has_a_template_with_valid_schemas_and_its_events(
    tmp_path: Path,
) -> None:
    async with running_gateway(make_settings(tmp_path), build_app) as gateway:
        found = await templates(gateway)

    handled = handled_event_types()
    assert sorted(found) == sorted(PROVIDERS)
    for name, template in found.items():
        for schema in (template["credentials"], template["options"]):
            if schema is not None:
                Draft202012Validator.check_schema(schema)
        assert template["events"] == sorted(t for t in handled if t.startswith(f"{name}."))
        assert bool(template["tables"]) == bool(template["events"]), name
        assert set(template["auth"]) <= {"oauth", "token", "secret"}
    assert "calendly.invitee.created" in found["calendly"]["events"]
    assert found["google"]["events"] == ["google.calendar.changed"]
    assert ("secret" in found["pco"]["auth"], "secret" in found["ghl"]["auth"]) == (True, False)
    assert found["ghl"]["credentials"]["properties"]["private_integration_token"]["writeOnly"]


@pytest.mark.parametrize(("provider", "good", "bad", "field"), CREDENTIALS)
async def test_credentials_are_checked_against_the_template(
    gateway: RunningGateway, provider: str, good: dict[str, Any], bad: dict[str, Any], field: str
) -> None:
    schema = (await templates(gateway))[provider]["credentials"]
    body = {"provider": provider, "tenant": "acme"}
    refused = await gateway.admin.post("/admin/sources", json=body | {"credentials": bad})
    created = await gateway.admin.post("/admin/sources", json=body | {"credentials": good})
    patched = await gateway.admin.patch(
        f"/admin/sources/{created.json()['id']}", json={"credentials": bad}
    )

    assert Draft202012Validator(schema).is_valid(good)
    assert not Draft202012Validator(schema).is_valid(bad)
    assert created.status_code == 201, created.text
    for answer in (refused, patched):
        assert answer.status_code == 400
        assert (answer.json()["error"], answer.json()["field"]) == ("invalid_source", field)
        assert field in answer.json()["detail"]


@pytest.mark.parametrize(("provider", "good", "bad", "option"), OPTIONS)
async def test_options_are_checked_against_the_template(
    gateway: RunningGateway, provider: str, good: dict[str, Any], bad: dict[str, Any], option: str
) -> None:
    schema = (await templates(gateway))[provider]["options"]
    credentials = _good_credentials(provider)
    body = {"provider": provider, "tenant": "acme", "credentials": credentials}
    refused = await gateway.admin.post("/admin/sources", json=body | {"options": bad})
    created = await gateway.admin.post("/admin/sources", json=body | {"options": good})
    patched = await gateway.admin.patch(
        f"/admin/sources/{created.json()['id']}", json={"options": bad}
    )

    assert Draft202012Validator(schema).is_valid(good)
    assert not Draft202012Validator(schema).is_valid(bad)
    assert created.status_code == 201, created.text
    assert created.json()["options"] == good
    for answer in (refused, patched):
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_source"
        assert answer.json()["field"] == f"options.{option}"


def _good_credentials(provider: str) -> dict[str, Any]:
    return next(good for name, good, _, _ in CREDENTIALS if name == provider)
