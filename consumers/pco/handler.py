"""Planning Center people events → `members` (with `member_emails`, `member_phones`).

A person event writes the member's own columns; `destroyed` leaves a tombstone
(names cleared, `deleted_at` set) that outranks any create. Email and phone events
are kept per email/phone id under their own versions and tombstones, and the
member's `email`/`phone` are then derived from them: the primary, non-deleted one
with the newest version. An email or phone may arrive before its person: the
member row is created partially, and the person event fills in the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.handlers.phone_cache import e164
from consumers.phones import default_regions
from consumers.registry import HandlerRegistry, PreparedHandler
from consumers.upsert import insert_missing, keys_in, upsert
from consumers.versions import parse_time, row_version
from schemas import CloudEvent
from schemas.pco import (
    Document,
    Email,
    Person,
    PhoneNumber,
    StoredDocument,
    StoredEmail,
    StoredPerson,
    StoredPhoneNumber,
    parse_stored_document,
)
from schemas.store import member_emails, member_phones, members

_ACTIONS = ("created", "updated", "destroyed")
PERSON_TYPES = tuple(f"pco.person.{action}" for action in _ACTIONS)
EMAIL_TYPES = tuple(f"pco.email.{action}" for action in _ACTIONS)
PHONE_TYPES = tuple(f"pco.phone_number.{action}" for action in _ACTIONS)
EVENT_TYPES = PERSON_TYPES + EMAIL_TYPES + PHONE_TYPES

MEMBER_KEY = ("tenant", "pco_person_id")
MEMBER_COLUMNS = ("first_name", "last_name", "status", "deleted_at")
_EMAIL_COLUMNS = ("pco_person_id", "address", "is_primary", "deleted_at")
_PHONE_COLUMNS = ("pco_person_id", "number", "raw_number", "is_primary", "deleted_at")


def register(registry: HandlerRegistry) -> None:
    registry.register(EVENT_TYPES, PcoHandler())


@dataclass(frozen=True, slots=True)
class Prepared:
    """The row one event writes, to `table` (None: a resource the store does not keep);
    a phone's `number` is still as Planning Center sent it."""

    table: Table | None = None
    row: dict[str, Any] = field(default_factory=dict)
    person: str | None = None
    """The person an email or phone belongs to, where the document names one."""


class PcoHandler(PreparedHandler[Prepared]):
    """A constant number of statements per table, whatever the batch size (per chunk)."""

    def prepare(self, event: CloudEvent) -> Prepared:
        # `pco.{resource}.{action}`: the resource type the document should hold
        document = parse_stored_document(
            event.type[4:].rpartition(".")[0], event.data, destroyed=_destroyed(event)
        )
        resource = document.data
        if isinstance(resource, Person | StoredPerson):
            return Prepared(members, _person_row(event, document, resource))
        if isinstance(resource, Email | StoredEmail):
            return Prepared(
                member_emails, _email_row(event, document, resource), document.person_id
            )
        if isinstance(resource, PhoneNumber | StoredPhoneNumber):
            return Prepared(
                member_phones, _phone_row(event, document, resource), document.person_id
            )
        return Prepared()

    async def write(
        self, connection: AsyncConnection, prepared: Sequence[tuple[CloudEvent, Prepared]]
    ) -> None:
        people = [item.row for _, item in prepared if item.table is members]
        emails = [item.row for _, item in prepared if item.table is member_emails]
        phones = [(event, item.row) for event, item in prepared if item.table is member_phones]
        touched = {(event.tenant, item.person) for event, item in prepared if item.person}
        await upsert(connection, members, people, key=MEMBER_KEY, update=MEMBER_COLUMNS)
        if phones:
            regions = await default_regions(connection, {event.source for event, _ in phones})
            for event, row in phones:
                row["number"] = e164(row["number"] or row["raw_number"], regions[event.source])
        await upsert(
            connection,
            member_emails,
            emails,
            key=("tenant", "pco_email_id"),
            update=_EMAIL_COLUMNS,
        )
        await upsert(
            connection,
            member_phones,
            [row for _, row in phones],
            key=("tenant", "pco_phone_number_id"),
            update=_PHONE_COLUMNS,
        )
        if touched:
            keys = sorted(touched)
            await insert_missing(
                connection,
                members,
                [{"tenant": tenant, "pco_person_id": person} for tenant, person in keys],
                key=MEMBER_KEY,
            )
            if emails:
                await _derive(connection, keys, "email", member_emails, member_emails.c.address)
            if phones:
                await _derive(connection, keys, "phone", member_phones, member_phones.c.number)


async def _derive(
    connection: AsyncConnection,
    keys: Sequence[tuple[str, str]],
    column: str,
    table: Table,
    value: Any,
) -> None:
    """Set members.`column` from `table`'s primary, non-deleted row with the newest version."""
    newest = (
        select(value)
        .where(
            and_(
                table.c.tenant == members.c.tenant,
                table.c.pco_person_id == members.c.pco_person_id,
                table.c.is_primary == true(),
                table.c.deleted_at.is_(None),
            )
        )
        .order_by(table.c.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    member_key = (members.c.tenant, members.c.pco_person_id)
    for condition in keys_in(connection, member_key, keys):
        await connection.execute(update(members).where(condition).values({column: newest}))


AnyDocument = Document | StoredDocument
"""The document as the store reads it, or (any other resource) as the full model does."""


def _moment(event: CloudEvent, document: AnyDocument, updated_at: datetime | None) -> datetime:
    """The provider's time of this change: the resource's updated_at, else the event's."""
    if updated_at is not None:
        return updated_at
    if document.meta is not None and document.meta.event_time is not None:
        return document.meta.event_time
    return event.time


def _destroyed(event: CloudEvent) -> bool:
    return event.type.endswith(".destroyed")


def _person_row(
    event: CloudEvent, document: AnyDocument, person: Person | StoredPerson
) -> dict[str, Any]:
    attributes = None if _destroyed(event) else person.attributes
    moment = _moment(event, document, attributes.updated_at if attributes else None)
    return {
        "tenant": event.tenant,
        "pco_person_id": person.id,
        "first_name": (attributes.first_name or attributes.given_name) if attributes else None,
        "last_name": attributes.last_name if attributes else None,
        "status": attributes.status if attributes else None,
        "deleted_at": parse_time(moment) if attributes is None else None,
        "version": row_version(moment, event.id, final=attributes is None),
    }


def _email_row(
    event: CloudEvent, document: AnyDocument, email: Email | StoredEmail
) -> dict[str, Any]:
    attributes = None if _destroyed(event) else email.attributes
    moment = _moment(event, document, attributes.updated_at if attributes else None)
    return {
        "tenant": event.tenant,
        "pco_email_id": email.id,
        "pco_person_id": document.person_id,
        "address": attributes.address if attributes else None,
        "is_primary": bool(attributes and attributes.primary),
        "deleted_at": parse_time(moment) if attributes is None else None,
        "version": row_version(moment, event.id, final=attributes is None),
    }


def _phone_row(
    event: CloudEvent, document: AnyDocument, phone: PhoneNumber | StoredPhoneNumber
) -> dict[str, Any]:
    attributes = None if _destroyed(event) else phone.attributes
    moment = _moment(event, document, attributes.updated_at if attributes else None)
    return {
        "tenant": event.tenant,
        "pco_phone_number_id": phone.id,
        "pco_person_id": document.person_id,
        "number": attributes.e164 if attributes else None,
        "raw_number": attributes.number if attributes else None,
        "is_primary": bool(attributes and attributes.primary),
        "deleted_at": parse_time(moment) if attributes is None else None,
        "version": row_version(moment, event.id, final=attributes is None),
    }
