"""A realistic mixed history of one tenant across Calendly, PCO and GHL.

`history(tenant)` builds the same events (same provider data, ids differing only
by tenant) for any tenant, in the order the providers produced them, so two
tenants fed in different orders must end with equal rows.
"""

from __future__ import annotations

from datetime import datetime

from schemas import CloudEvent
from tests.store import events
from tests.store.events import at

EVENT = "https://api.calendly.com/scheduled_events/S1"
OLD, NEW, GONE = (f"{EVENT}/invitees/{name}" for name in ("OLD", "NEW", "GONE"))
ALIVE, LEFT = "1001", "1002"


def _email(
    tenant: str, action: str, email_id: str, address: str, primary: bool, now: datetime
) -> CloudEvent:
    stamp = now.isoformat().replace("+00:00", "Z")
    parent = {"type": "Person", "id": ALIVE}
    data: dict[str, object] = {
        "type": "Email",
        "id": email_id,
        "relationships": {"person": {"data": parent}},
    }
    meta: dict[str, object] = {"parent": parent}
    if action != "destroyed":
        data["attributes"] = {"address": address, "primary": primary, "updated_at": stamp}
        meta["event_time"] = stamp
    document = {"data": data, "meta": meta}
    delivery_id = f"{tenant}-{email_id}-{action}-{stamp}"
    return events.pco_document(tenant, f"email.{action}", now, document, delivery_id)


def _calendly(tenant: str) -> list[CloudEvent]:
    c = events.calendly
    return [
        c(tenant, "invitee.created", at(0), invitee_uri=OLD, event_uri=EVENT),
        c(tenant, "invitee.created", at(1), invitee_uri=GONE, event_uri=EVENT, email="g@x.org"),
        c(tenant, "invitee.canceled", at(5), invitee_uri=OLD, event_uri=EVENT, rescheduled_to=NEW),
        c(tenant, "invitee.created", at(5), invitee_uri=NEW, event_uri=EVENT, rescheduled_from=OLD),
        c(tenant, "invitee.canceled", at(6), invitee_uri=GONE, event_uri=EVENT, reason="busy"),
        events.calendly_no_show(tenant, "invitee_no_show.created", at(7), NEW),
        events.calendly_no_show(tenant, "invitee_no_show.deleted", at(8), NEW),
        events.calendly_no_show(tenant, "invitee_no_show.created", at(9), GONE),
    ]


def _pco(tenant: str) -> list[CloudEvent]:
    def p(event: str, minutes: float, person: str, resource: str | None = None) -> CloudEvent:
        delivery = f"{tenant}-{event}-{person}-{resource}-{minutes}"
        return events.pco(
            tenant,
            event,
            at(minutes),
            person_id=person,
            resource_id=resource,
            delivery_id=delivery,
        )

    return [
        p("person.created", 0, ALIVE),
        p("person.created", 0, LEFT),
        _email(tenant, "created", "E1", "first@x.org", True, at(1)),
        p("phone_number.created", 1, ALIVE, "P1"),
        _email(tenant, "created", "E2", "second@x.org", False, at(2)),
        p("person.updated", 3, ALIVE),
        _email(tenant, "updated", "E2", "second@x.org", True, at(4)),
        _email(tenant, "updated", "E1", "first@x.org", False, at(4.5)),
        _email(tenant, "destroyed", "E1", "", False, at(5)),
        p("email.created", 5, LEFT, "E3"),
        p("person.destroyed", 6, LEFT),
        p("phone_number.destroyed", 7, ALIVE, "P1"),
    ]


def _ghl(tenant: str) -> list[CloudEvent]:
    def g(event: str, minutes: float, **kwargs: object) -> CloudEvent:
        webhook = f"{tenant}-{event}-{minutes}-{kwargs.get('contact_id', '')}"
        return events.ghl(tenant, event, at(minutes), webhook_id=webhook, **kwargs)

    return [
        g("ContactCreate", 0, contact_id="C1"),
        g("ContactCreate", 0, contact_id="C2"),
        g("AppointmentCreate", 0, appointment_id="A1", contact_id="C1"),
        g("AppointmentCreate", 0.5, appointment_id="A2", contact_id="C2"),
        g("ContactUpdate", 1, contact_id="C1", tags=("lead",)),
        g("ContactTagUpdate", 2, contact_id="C1", tags=("lead", "vip")),
        g("ContactDndUpdate", 3, contact_id="C1"),
        g("AppointmentUpdate", 3, appointment_id="A1", contact_id="C1"),
        g("ContactTagUpdate", 4, contact_id="C2", tags=()),
        g("ContactDelete", 5, contact_id="C2"),
        g("AppointmentDelete", 6, appointment_id="A2", contact_id="C2"),
    ]


def history(tenant: str) -> list[CloudEvent]:
    """Every provider's events for `tenant`, in the order they happened per provider."""
    return _calendly(tenant) + _pco(tenant) + _ghl(tenant)
