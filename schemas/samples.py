"""Realistic sample deliveries, for `hookgate send` and for tests.

Bodies are compact JSON bytes shaped like the providers' documented deliveries
(see providers.md). Unset ids are random, so two calls make two distinct deliveries;
pass ids to make a retry of the same one. Google notifications have no body: see
`google_headers`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson

CALENDLY_API = "https://api.calendly.com"
PCO_API = "https://api.planningcenteronline.com"

SAMPLE_EVENTS: Mapping[str, tuple[str, ...]] = {
    "calendly": ("invitee.created", "invitee.canceled", "routing_form_submission.created"),
    "pco": tuple(
        f"people.v2.events.{resource}.{action}"
        for resource in ("person", "email", "phone_number")
        for action in ("created", "updated", "destroyed")
    ),
    "ghl": (
        "ContactCreate",
        "ContactUpdate",
        "ContactDelete",
        "ContactTagUpdate",
        "ContactDndUpdate",
        "AppointmentCreate",
        "AppointmentUpdate",
        "AppointmentDelete",
    ),
    "stripe": (
        "checkout.session.completed",
        "checkout.session.expired",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.refunded",
        "refund.created",
        "refund.updated",
    ),
}
"""The events `sample` can build, by provider."""


def sample(provider: str, event: str, *, now: datetime) -> bytes:
    """A body for `hookgate send PROVIDER EVENT` (not Google, whose notifications have none)."""
    if provider == "calendly":
        return calendly(event, now=now)
    if provider == "pco":
        return pco(event, now=now)
    if provider == "ghl":
        return ghl(event, now=now)
    if provider == "stripe":
        return stripe(event, now=now)
    raise ValueError(f"no sample bodies for provider {provider!r}")


def _iso(moment: datetime, *, precision: str = "microseconds") -> str:
    return moment.astimezone(UTC).isoformat(timespec=precision).replace("+00:00", "Z")


def _compact(value: Any) -> bytes:
    return orjson.dumps(value)


def calendly(
    event: str,
    *,
    now: datetime,
    invitee_uri: str | None = None,
    event_uri: str | None = None,
    email: str = "ada@example.com",
    name: str = "Ada Lovelace",
    start_time: datetime | None = None,
    rescheduled_from: str | None = None,
    rescheduled_to: str | None = None,
    reason: str = "",
) -> bytes:
    """An `invitee.created` / `invitee.canceled` delivery (or another event around an invitee).

    A reschedule is two deliveries: `invitee.canceled` with `rescheduled_to` (the new
    invitee's URI) for the old invitee, and `invitee.created` with `rescheduled_from`.
    """
    event_uri = event_uri or f"{CALENDLY_API}/scheduled_events/{uuid.uuid4()}"
    invitee_uri = invitee_uri or f"{event_uri}/invitees/{uuid.uuid4()}"
    start = start_time or (now + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(minutes=30)
    canceled = event == "invitee.canceled"
    first_name, _, last_name = name.partition(" ")
    cancellation = {
        "canceled_by": name,
        "canceler_type": "invitee",
        "reason": reason,
        "created_at": _iso(now),
    }
    payload: dict[str, Any] = {
        "cancel_url": f"https://calendly.com/cancellations/{uuid.uuid4()}",
        "created_at": _iso(now - timedelta(days=1) if canceled else now),
        "email": email,
        "event": event_uri,
        "first_name": first_name,
        "last_name": last_name or None,
        "name": name,
        "new_invitee": rescheduled_to,
        "no_show": None,
        "old_invitee": rescheduled_from,
        "payment": None,
        "questions_and_answers": [],
        "reconfirmation": None,
        "reschedule_url": f"https://calendly.com/reschedulings/{uuid.uuid4()}",
        "rescheduled": rescheduled_to is not None,
        "routing_form_submission": None,
        "scheduled_event": {
            "created_at": _iso(now - timedelta(days=1) if canceled else now),
            "end_time": _iso(end),
            "event_guests": [],
            "event_memberships": [
                {"user": f"{CALENDLY_API}/users/{uuid.uuid4()}", "user_email": "host@example.com"}
            ],
            "event_type": f"{CALENDLY_API}/event_types/{uuid.uuid4()}",
            "invitees_counter": {"active": 0 if canceled else 1, "limit": 1, "total": 1},
            "location": {"join_url": "https://meet.example.com/abc", "type": "google_conference"},
            "name": "30 Minute Meeting",
            "start_time": _iso(start),
            "status": "canceled" if canceled else "active",
            "updated_at": _iso(now),
            "uri": event_uri,
        },
        "status": "canceled" if canceled else "active",
        "text_reminder_number": None,
        "timezone": "Europe/London",
        "tracking": {
            "utm_campaign": None,
            "utm_source": None,
            "utm_medium": None,
            "utm_content": None,
            "utm_term": None,
            "salesforce_uuid": None,
        },
        "updated_at": _iso(now),
        "uri": invitee_uri,
    }
    if canceled:
        payload["cancellation"] = cancellation
        payload["scheduled_event"]["cancellation"] = cancellation
    return _compact(
        {
            "created_at": _iso(now),
            "created_by": f"{CALENDLY_API}/users/{uuid.uuid4()}",
            "event": event,
            "payload": payload,
        }
    )


def _pco_resource(
    resource: str, action: str, *, resource_id: str, person_id: str, now: datetime
) -> dict[str, Any]:
    stamp = _iso(now, precision="seconds")
    person_ref: dict[str, Any] = {"person": {"data": {"type": "Person", "id": person_id}}}
    self_link = f"{PCO_API}/people/v2/people/{person_id}"
    if resource == "person":
        kind = "Person"
        relationships: dict[str, Any] = {"primary_campus": {"data": None}, "gender": {"data": None}}
        attributes: dict[str, Any] = {
            "first_name": "Grace",
            "last_name": "Hopper",
            "name": "Grace Hopper",
            "given_name": None,
            "nickname": None,
            "middle_name": None,
            "status": "active",
            "membership": "Member",
            "child": False,
            "birthdate": None,
            "inactivated_at": None,
            "created_at": stamp,
            "updated_at": stamp,
        }
    elif resource == "email":
        kind, relationships = "Email", person_ref
        self_link = f"{self_link}/emails/{resource_id}"
        attributes = {
            "address": "grace@example.org",
            "location": "Home",
            "primary": True,
            "blocked": False,
            "created_at": stamp,
            "updated_at": stamp,
        }
    elif resource == "phone_number":
        kind, relationships = "PhoneNumber", person_ref
        self_link = f"{self_link}/phone_numbers/{resource_id}"
        attributes = {
            "number": "(555) 010-2030",
            "e164": "+15550102030",
            "national": "(555) 010-2030",
            "international": "+1 555-010-2030",
            "country_code": "US",
            "carrier": None,
            "location": "Mobile",
            "primary": True,
            "created_at": stamp,
            "updated_at": stamp,
        }
    else:
        raise ValueError(f"no sample for Planning Center resource {resource!r}")
    data: dict[str, Any] = {"type": kind, "id": resource_id, "relationships": relationships}
    if action == "destroyed":
        data["links"] = {"self": self_link}
        return {"data": data, "meta": {"parent": _pco_parent(resource, person_id)}}
    data["attributes"] = attributes
    data["links"] = {
        "self": self_link,
        "html": f"https://people.planningcenteronline.com/people/AC{person_id}",
    }
    return {
        "data": data,
        "included": [],
        "meta": {
            "can_include": [],
            "parent": _pco_parent(resource, person_id),
            "event_time": stamp,
            "idempotency_token": uuid.uuid4().hex,
        },
    }


def _pco_parent(resource: str, person_id: str) -> dict[str, str]:
    if resource == "person":
        return {"id": "456240", "type": "Organization"}
    return {"id": person_id, "type": "Person"}


def pco(
    event: str,
    *,
    now: datetime,
    person_id: str = "136901110",
    resource_id: str | None = None,
    delivery_id: str | None = None,
    attempt: int = 1,
) -> bytes:
    """A People delivery: `people.v2.events.{person|email|phone_number}.{action}`.

    `event` may be given short (`person.created`). A retry is the same call with the
    same `delivery_id` and a higher `attempt`.
    """
    name = event if ".events." in event else f"people.v2.events.{event}"
    resource, _, action = name.rpartition(".events.")[2].partition(".")
    if resource == "person":
        resource_id = person_id
    inner = _pco_resource(
        resource, action, resource_id=resource_id or "92311522", person_id=person_id, now=now
    )
    return _compact(
        {
            "data": [
                {
                    "id": delivery_id or str(uuid.uuid4()),
                    "type": "EventDelivery",
                    "attributes": {
                        "name": name,
                        "attempt": attempt,
                        "payload": _compact(inner).decode(),
                    },
                    "relationships": {
                        "organization": {"data": {"type": "Organization", "id": "456240"}}
                    },
                }
            ]
        }
    )


def ghl(
    event: str,
    *,
    now: datetime,
    contact_id: str = "nmFmQEsNgz6AVpgLVUJ0",
    location_id: str = "ve9EPM428h8vShlRW1KT",
    appointment_id: str = "0TkCdp9PfvLeWKYRRvIz",
    webhook_id: str | None = None,
    tags: tuple[str, ...] = ("lead", "webinar"),
) -> bytes:
    """A GHL contact (`ContactCreate` ...) or appointment (`AppointmentCreate` ...) delivery."""
    stamp = _iso(now, precision="milliseconds")
    body: dict[str, Any] = {"type": event, "locationId": location_id}
    if event.startswith("Appointment"):
        body["appointment"] = {
            "id": appointment_id,
            "address": "https://meet.example.com/xyz",
            "title": "Discovery call",
            "calendarId": "BqTwX8QFwXzpegMve9EQ",
            "contactId": contact_id,
            "groupId": "ckbe4c0pBzWnD2Ta2kgk",
            "appointmentStatus": "cancelled" if event == "AppointmentDelete" else "confirmed",
            "assignedUserId": "YlWd2wuCAZQzh2cH1fVZ",
            "users": ["YlWd2wuCAZQzh2cH1fVZ"],
            "notes": "",
            "source": "booking_widget",
            "startTime": _iso(now + timedelta(days=1), precision="seconds"),
            "endTime": _iso(now + timedelta(days=1, minutes=30), precision="seconds"),
            "dateAdded": stamp,
            "dateUpdated": stamp,
        }
    else:
        body |= {
            "id": contact_id,
            "address1": "3535 1st St N",
            "city": "Dolomite",
            "state": "AL",
            "companyName": "Loram ipsum",
            "country": "US",
            "source": "xyz form",
            "dateAdded": stamp,
            "dateOfBirth": "2000-01-28T00:00:00.000Z",
            "dnd": event == "ContactDndUpdate",
            "email": "john@deo.com",
            "name": "John Deo",
            "firstName": "John",
            "lastName": "Deo",
            "phone": "+15550102030",
            "postalCode": "452001",
            "tags": list(tags),
            "website": "https://www.example.com",
            "attachments": [],
            "assignedTo": "nmFmQEsNgz6AVpgLVUJ0",
            "customFields": [{"id": "BcdmQEsNgz6AVpgLVUJ0", "value": "XYZ Corp"}],
        }
    body["timestamp"] = stamp
    body["webhookId"] = webhook_id or str(uuid.uuid4())
    return _compact(body)


def stripe(
    event: str,
    *,
    now: datetime,
    event_id: str | None = None,
    booking_id: str = "bkg_sample",
    amount: int = 5000,
    refunded: int | None = None,
    object_id: str | None = None,
    payment_intent: str = "pi_3SampleIntent0001",
) -> bytes:
    """A Stripe Event (providers.md §5) about a booking's Checkout Session, PaymentIntent,
    Charge or Refund; `refunded` is the amount refunded so far (default: all of it)."""
    stamp = int(now.timestamp())
    resource, _, action = event.rpartition(".")
    metadata = {"booking_id": booking_id}
    common = {"created": stamp, "livemode": False, "currency": "usd", "metadata": metadata}
    obj: dict[str, Any]
    if resource == "checkout.session":
        paid = action == "completed"
        obj = common | {
            "id": object_id or f"cs_test_{uuid.uuid4().hex}",
            "object": "checkout.session",
            "mode": "payment",
            "status": "complete" if paid else "expired",
            "payment_status": "paid" if paid else "unpaid",
            "amount_subtotal": amount,
            "amount_total": amount,
            "client_reference_id": booking_id,
            "customer_details": {"email": "ada@example.com", "name": "Ada Lovelace"},
            "payment_intent": payment_intent if paid else None,
            "expires_at": stamp + 86_400,
            "url": None,
        }
    elif resource == "payment_intent":
        obj = common | {
            "id": object_id or payment_intent,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount if action == "succeeded" else 0,
            "status": "succeeded" if action == "succeeded" else "requires_payment_method",
            "latest_charge": "ch_3SampleCharge0001",
        }
    elif resource == "charge":
        done = amount if refunded is None else refunded
        obj = common | {
            "id": object_id or "ch_3SampleCharge0001",
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": done,
            "refunded": done == amount,
            "paid": True,
            "status": "succeeded",
            "payment_intent": payment_intent,
        }
    else:
        obj = common | {
            "id": object_id or f"re_{uuid.uuid4().hex[:24]}",
            "object": "refund",
            "amount": amount if refunded is None else refunded,
            "charge": "ch_3SampleCharge0001",
            "payment_intent": payment_intent,
            "status": "succeeded",
            "reason": "requested_by_customer",
        }
    body = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-10-28.acacia",
        "created": stamp,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event,
    }
    return _compact(body)


def google_headers(
    state: str = "exists",
    *,
    channel_id: str,
    message_number: int,
    calendar_id: str = "primary",
    resource_id: str = "ret08u3rv24htgh289g",
    expiration: datetime | None = None,
    token: str | None = None,
) -> dict[str, str]:
    """The headers of a Google push notification (lower-case names; the body is empty)."""
    headers = {
        "x-goog-channel-id": channel_id,
        "x-goog-message-number": str(message_number),
        "x-goog-resource-id": resource_id,
        "x-goog-resource-state": state,
        "x-goog-resource-uri": (
            "https://www.googleapis.com/calendar/v3/calendars/"
            f"{quote(calendar_id, safe='')}/events?alt=json"
        ),
        "user-agent": "APIs-Google",
    }
    if expiration is not None:
        headers["x-goog-channel-expiration"] = expiration.astimezone(UTC).strftime(
            "%a, %d %b %Y %H:%M:%S GMT"
        )
    if token is not None:
        headers["x-goog-channel-token"] = token
    return headers
