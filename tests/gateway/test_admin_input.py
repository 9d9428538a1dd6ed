"""Admin input through the server: bounded bodies, refusals that name the field (never a
5xx), and a rotation that revokes the old secret at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.admin.input import MAX_BODY_BYTES, MAX_GRACE_SECONDS
from tests.fixtures.gateway import FrozenClock, RunningGateway
from tests.gateway import deliveries


def nested(depth: int) -> dict[str, Any]:
    """`options` with `depth` objects inside one another, itself included."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


async def test_rotation_with_no_grace_revokes_the_old_secret_at_once(
    gateway: RunningGateway, clock: FrozenClock
) -> None:
    source = (await gateway.add_source("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY))[
        "id"
    ]

    async def post_with(key: str) -> httpx.Response:
        signed = deliveries.calendly(clock.now, key=key)
        return await gateway.client.post(
            f"/webhooks/calendly/{source}", content=signed.body, headers=signed.headers
        )

    assert (await post_with(deliveries.CALENDLY_KEY)).status_code == 200  # now cached
    rotated = await gateway.admin.post(
        f"/admin/sources/{source}/secret", json={"secret": "the-next-key", "grace_seconds": 0}
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["previous_secret_valid_until"] is None
    refused = await post_with(deliveries.CALENDLY_KEY)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_signature"
    assert (await post_with("the-next-key")).status_code == 200


@pytest.mark.parametrize("grace", [-1, 1.5, "60", True, MAX_GRACE_SECONDS + 1, [0]])
async def test_a_grace_that_is_no_bounded_whole_number_is_refused(
    gateway: RunningGateway, grace: object
) -> None:
    source = (await gateway.add_source("calendly", tenant="acme", secret="first-secret"))["id"]
    response = await gateway.admin.post(
        f"/admin/sources/{source}/secret", json={"secret": "next", "grace_seconds": grace}
    )
    assert response.status_code == 400, response.text
    assert (response.json()["error"], response.json()["field"]) == (
        "invalid_request",
        "grace_seconds",
    )
    shown = (await gateway.admin.get(f"/admin/sources/{source}")).json()
    assert shown["previous_secret_valid_until"] is None, "nothing was rotated"


async def test_a_body_over_64_kib_is_refused_declared_or_streamed(gateway: RunningGateway) -> None:
    body = b'{"provider": "calendly", "tenant": "' + b"a" * MAX_BODY_BYTES + b'"}'

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    for content in (body, streamed()):
        response = await gateway.admin.post("/admin/sources", content=content)
        assert response.status_code == 413
        assert response.json()["error"] == "body_too_large"
        assert "64 KiB" in response.json()["detail"]


CALENDLY = {"provider": "calendly", "tenant": "acme", "secret": "s3cret"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (CALENDLY | {"secret": "   "}, "secret"),
        (CALENDLY | {"secret": "\t\n"}, "secret"),
        (CALENDLY | {"secret": 5}, "secret"),
        (CALENDLY | {"tenant": "   "}, "tenant"),
        (CALENDLY | {"tenant": "ac\x00me"}, "tenant"),
        (CALENDLY | {"tenant": "acme\nINFO forged log line"}, "tenant"),
        (CALENDLY | {"tenant": "acme\u202egnp.exe"}, "tenant"),
        (CALENDLY | {"tenant": "a" * 201}, "tenant"),
        (CALENDLY | {"tenant": ["acme"]}, "tenant"),
        (CALENDLY | {"options": nested(9)}, "options"),
        (CALENDLY | {"options": nested(300)}, "options"),
        (CALENDLY | {"options": {"big": "x" * 20_000}}, "options"),
        (CALENDLY | {"options": ["not", "an", "object"]}, "options"),
        (CALENDLY | {"x" * 500: 1}, "x" * 61 + "..."),
        (CALENDLY | {"ab\x00": 1}, "ab?"),
        ({"provider": "google", "tenant": "acme", "credentials": "x"}, "credentials"),
    ],
)
async def test_unusable_source_fields_get_400_naming_the_field(
    gateway: RunningGateway, body: dict[str, Any], field: str
) -> None:
    response = await gateway.admin.post("/admin/sources", json=body)
    assert response.status_code == 400, response.text
    found = response.json()
    assert (found["error"], found["field"]) == ("invalid_request", field)
    assert found["detail"].startswith(field)
    assert found["detail"].endswith(".")
    assert len(found["detail"]) < 200
    assert (await gateway.admin.get("/admin/sources")).json()["sources"] == []


@pytest.mark.parametrize(
    "content", [b"[]", b'"acme"', b"1", b"null", b"", b"{", b'{"tenant": "\xff"}', b"\xff\xfe"]
)
async def test_a_body_that_is_no_json_object_gets_400(
    gateway: RunningGateway, content: bytes
) -> None:
    for path in ("/admin/sources", "/admin/sources/src_x/secret"):
        response = await gateway.admin.post(path, content=content)
        assert response.status_code == 400, (path, response.text)
        assert (response.json()["error"], response.json()["field"]) == ("invalid_json", "body")


async def test_nested_options_within_the_bounds_are_kept(gateway: RunningGateway) -> None:
    options = {"deep": nested(7), "list": [1, [2, [3]]], "text": "x" * 1000}
    created = await gateway.add_source(
        "calendly", tenant="Église São Paulo", secret="s", options=options
    )
    assert created["options"] == options
    assert created["tenant"] == "Église São Paulo"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
source_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "provider": st.sampled_from(["calendly", "pco", "ghl", "google", "stripe"]) | st.text(),
            "tenant": st.text(max_size=12) | json_values,
            "secret": st.text(max_size=12) | json_values,
            "credentials": st.fixed_dictionaries(
                {},
                optional={
                    "client_id": json_values,
                    "client_secret": json_values,
                    "refresh_token": st.text(),
                },
            )
            | json_values,
            "options": json_values,
            "grace_seconds": json_values,
        },
    )
    | json_values
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=source_bodies)
async def test_no_json_body_makes_the_source_routes_answer_5xx(
    gateway: RunningGateway, body: object
) -> None:
    for path in ("/admin/sources", "/admin/sources/src_nobody/secret"):
        response = await gateway.admin.post(path, json=body)
        assert response.status_code < 500, (path, response.text)
        if response.status_code == 400:
            assert response.json()["field"]
