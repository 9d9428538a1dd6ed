"""CloudEvents as the gateway makes them: sample bodies run through the normalizers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from schemas import CloudEvent, Delivery, samples
from schemas import calendly as calendly_schema
from schemas import ghl as ghl_schema
from schemas import pco as pco_schema

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _delivery(provider: str, tenant: str, body: bytes, now: datetime) -> Delivery:
    return Delivery(
        provider=provider,
        source_id=f"src-{provider}-{tenant}",
        tenant=tenant,
        headers={},
        body=body,
        received_at=now,
    )


def calendly(tenant: str, event: str, now: datetime, **kwargs: Any) -> CloudEvent:
    body = samples.calendly(event, now=now, **kwargs)
    return calendly_schema.normalize(_delivery("calendly", tenant, body, now)).events[0]


def calendly_no_show(tenant: str, event: str, now: datetime, invitee_uri: str) -> CloudEvent:
    """`invitee_no_show.created|deleted` (samples has no builder for these)."""
    body = orjson.dumps(
        {
            "created_at": now.isoformat().replace("+00:00", "Z"),
            "created_by": "https://api.calendly.com/users/host",
            "event": event,
            "payload": {
                "uri": f"https://api.calendly.com/invitee_no_shows/ns-{invitee_uri[-8:]}",
                "invitee": invitee_uri,
                "created_at": now.isoformat().replace("+00:00", "Z"),
            },
        }
    )
    return calendly_schema.normalize(_delivery("calendly", tenant, body, now)).events[0]


def pco(tenant: str, event: str, now: datetime, **kwargs: Any) -> CloudEvent:
    body = samples.pco(event, now=now, **kwargs)
    return pco_schema.normalize(_delivery("pco", tenant, body, now)).events[0]


def pco_document(
    tenant: str, event: str, now: datetime, document: dict[str, Any], delivery_id: str
) -> CloudEvent:
    """A PCO event with a hand-made inner document (attributes the samples fix)."""
    body = orjson.dumps(
        {
            "data": [
                {
                    "id": delivery_id,
                    "type": "EventDelivery",
                    "attributes": {
                        "name": f"people.v2.events.{event}",
                        "attempt": 1,
                        "payload": orjson.dumps(document).decode(),
                    },
                }
            ]
        }
    )
    return pco_schema.normalize(_delivery("pco", tenant, body, now)).events[0]


def ghl(tenant: str, event: str, now: datetime, **kwargs: Any) -> CloudEvent:
    body = samples.ghl(event, now=now, **kwargs)
    return ghl_schema.normalize(_delivery("ghl", tenant, body, now)).events[0]
