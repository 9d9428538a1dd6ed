"""Planning Center webhook payloads, and the normalizer that turns a delivery into events.

A delivery is a JSON:API document whose `data` is a list of `EventDelivery` objects;
each carries its event as a JSON *string* (`attributes.payload`). Each element becomes
one event whose data is that inner document, so consumers call `parse_document`:

    pco.person.created|updated|destroyed              Document, `data` a `Person`
    pco.email.created|updated|destroyed               Document, `data` an `Email`
    pco.phone_number.created|updated|destroyed        Document, `data` a `PhoneNumber`
    anything else (pco.household.*, pco.services.plan.*, ...)
                                                      Document, `data` an `OtherResource`

`*.destroyed` documents carry no `attributes` (they are None) and their `meta` holds
only `parent`; whatever `attributes` one does carry (`{}`, null, a partial object) is
ignored, not validated: a delete refused would be a delete lost. People events are
typed `pco.{resource}.{action}`, other apps' `pco.{app}.{resource}.{action}`, with
Planning Center's own action words.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)

from schemas.envelope import (
    CloudEvent,
    Delivery,
    MalformedPayload,
    Normalized,
    ProviderTime,
    malformed_from,
    source_uri,
)

PROVIDER = "pco"


class PcoModel(BaseModel):
    """Planning Center objects: immutable, and open to the fields PCO adds over time."""

    model_config = ConfigDict(frozen=True, extra="allow")


class Ref(PcoModel):
    """A JSON:API resource identifier."""

    type: str
    id: str


class Relationship(PcoModel):
    data: Ref | list[Ref] | None = None


class Meta(PcoModel):
    parent: Ref | None = None
    event_time: ProviderTime | None = None
    idempotency_token: str | None = None


class PersonAttributes(PcoModel):
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    given_name: str | None = None
    nickname: str | None = None
    status: str | None = None
    """`active` or `inactive`."""
    membership: str | None = None
    inactivated_at: ProviderTime | None = None
    created_at: ProviderTime | None = None
    updated_at: ProviderTime


class EmailAttributes(PcoModel):
    address: str
    primary: bool = False
    location: str | None = None
    blocked: bool | None = None
    created_at: ProviderTime | None = None
    updated_at: ProviderTime | None = None


class PhoneNumberAttributes(PcoModel):
    number: str
    e164: str | None = None
    """Present on current deliveries; older ones carry only `number`."""
    primary: bool = False
    carrier: str | None = None
    country_code: str | None = None
    national: str | None = None
    international: str | None = None
    location: str | None = None
    created_at: ProviderTime | None = None
    updated_at: ProviderTime | None = None


class _Resource(PcoModel):
    id: str = Field(min_length=1)
    links: dict[str, Any] = Field(default_factory=dict)


class _PersonOwned(_Resource):
    relationships: dict[str, Relationship] = Field(default_factory=dict)

    @property
    def person_id(self) -> str | None:
        """The owning person, from `relationships.person`."""
        related = self.relationships.get("person")
        return related.data.id if related is not None and isinstance(related.data, Ref) else None


class Person(_Resource):
    type: Literal["Person"]
    attributes: PersonAttributes | None = None
    """None on `destroyed`."""
    relationships: dict[str, Relationship] = Field(default_factory=dict)


class Email(_PersonOwned):
    type: Literal["Email"]
    attributes: EmailAttributes | None = None


class PhoneNumber(_PersonOwned):
    type: Literal["PhoneNumber"]
    attributes: PhoneNumberAttributes | None = None


class OtherResource(_Resource):
    type: str
    attributes: dict[str, Any] | None = None
    relationships: dict[str, Any] = Field(default_factory=dict)


_TYPED = frozenset({"Person", "Email", "PhoneNumber"})


def _kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in _TYPED else "OtherResource"


Resource = Annotated[
    Annotated[Person, Tag("Person")]
    | Annotated[Email, Tag("Email")]
    | Annotated[PhoneNumber, Tag("PhoneNumber")]
    | Annotated[OtherResource, Tag("OtherResource")],
    Discriminator(_kind),
]


class Document(PcoModel):
    """The inner document of one event: the event data on the bus."""

    data: Resource
    included: list[Any] = Field(default_factory=list)
    meta: Meta | None = None

    @property
    def person_id(self) -> str | None:
        """The person this resource belongs to (itself for a Person), where it names one."""
        if isinstance(self.data, Person):
            return self.data.id
        parent = self.meta.parent if self.meta is not None else None
        if parent is not None and parent.type == "Person":
            return parent.id
        if isinstance(self.data, Email | PhoneNumber):
            return self.data.person_id
        related = self.data.relationships.get("person")
        target = related.get("data") if isinstance(related, dict) else None
        found = target.get("id") if isinstance(target, dict) else None
        return found if isinstance(found, str) and found else None


class EventDeliveryAttributes(PcoModel):
    name: str = Field(min_length=1)
    """The event name, e.g. `people.v2.events.person.created`."""
    attempt: int = 1
    payload: str
    """The event's `Document`, as a JSON string."""


class EventDelivery(PcoModel):
    id: str = Field(min_length=1)
    """Stable across retries (only `attempt` grows)."""
    type: Literal["EventDelivery"]
    attributes: EventDeliveryAttributes
    relationships: dict[str, Any] = Field(default_factory=dict)


class DeliveryBody(PcoModel):
    """The request body Planning Center posts."""

    data: list[EventDelivery] = Field(min_length=1)


_DELIVERY = TypeAdapter(DeliveryBody)
_DOCUMENT = TypeAdapter(Document)
_TAGS = frozenset({*_TYPED, "OtherResource"})
"""Union tags: they appear in error locations; JSON:API member names are lower case."""
_NAME = re.compile(
    r"^(?P<app>[a-z0-9_.]+?)\.v\d+\.events\.(?P<resource>[a-z0-9_]+)\.(?P<action>[a-z0-9_]+)$"
)


def parse_delivery(body: bytes) -> DeliveryBody:
    """Parse the posted body (the outer `EventDelivery` list), or raise `MalformedPayload`."""
    try:
        return _DELIVERY.validate_json(body)
    except ValidationError as exc:
        raise malformed_from(exc, "Planning Center delivery", _TAGS) from None


def parse_document(data: bytes | str, *, destroyed: bool = False) -> Document:
    """Parse one event's inner document (the event data), or raise `MalformedPayload`.

    `destroyed`: a `*.destroyed` event's document, whose `attributes` are ignored.
    """
    try:
        if destroyed and (document := _without_attributes(data)) is not None:
            return _DOCUMENT.validate_python(document)
        return _DOCUMENT.validate_json(data)
    except ValidationError as exc:
        raise malformed_from(exc, "Planning Center event payload", _TAGS) from None


def _without_attributes(data: bytes | str) -> dict[str, Any] | None:
    """The document with its resource's `attributes` left out; None if it is no JSON
    object with an object `data` (then it is validated as it is, for the error)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        return None
    resource = {name: value for name, value in document["data"].items() if name != "attributes"}
    return document | {"data": resource}


def event_type(name: str) -> str:
    """`people.v2.events.person.created` -> `pco.person.created`; other apps keep their name."""
    match = _NAME.match(name)
    if match is None:
        return f"{PROVIDER}.{name}"
    app, resource, action = match.group("app", "resource", "action")
    if app == "people":
        return f"{PROVIDER}.{resource}.{action}"
    return f"{PROVIDER}.{app}.{resource}.{action}"


def normalize(delivery: Delivery) -> Normalized:
    """One event per `EventDelivery`; each keeps PCO's delivery id, stable across attempts."""
    body = parse_delivery(delivery.body)
    source = source_uri(delivery.provider, delivery.source_id)
    events = []
    for item in body.data:
        payload = item.attributes.payload
        kind = event_type(item.attributes.name)
        document = parse_document(payload, destroyed=kind.endswith(".destroyed"))
        meta_time = document.meta.event_time if document.meta is not None else None
        resource = document.data.id
        events.append(
            CloudEvent(
                id=item.id,
                source=source,
                type=kind,
                time=_utc(meta_time) if meta_time is not None else delivery.received_at,
                subject=resource,
                tenant=delivery.tenant,
                provider=delivery.provider,
                partitionkey=f"{delivery.tenant}:{document.person_id or resource}",
                data=payload.encode(),
            )
        )
    return Normalized(delivery_id=events[0].id, events=tuple(events))


def _utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise MalformedPayload("The Planning Center event has a time out of range.") from None


# What the store reads ---------------------------------------------------------------
#
# The consumers validate an event's data again when they apply it. The gateway has
# already checked the whole documented document at the edge (`parse_document`), so
# the store parses only what it writes. A person, email or phone event's document is
# read with a model whose `data` is that one resource type (no union to choose
# through); the models keep every required field of the ones above (same types and
# constraints) and the optional fields the members handler reads, and skip the rest
# (unknown fields are ignored, not kept). `parse_stored_document` falls back to
# `parse_document` for anything they reject (a resource of another type, or a
# malformed document: then with the full model's error), so it returns what the
# full model would have chosen.


class StoredPcoModel(BaseModel):
    """Like `PcoModel`, but fields it does not declare are skipped."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class StoredRef(StoredPcoModel):
    type: str
    id: str


class StoredRelationship(StoredPcoModel):
    data: StoredRef | list[StoredRef] | None = None


class StoredMeta(StoredPcoModel):
    parent: StoredRef | None = None
    event_time: ProviderTime | None = None


class StoredPersonAttributes(StoredPcoModel):
    first_name: str | None = None
    last_name: str | None = None
    given_name: str | None = None
    status: str | None = None
    updated_at: ProviderTime


class StoredEmailAttributes(StoredPcoModel):
    address: str
    primary: bool = False
    updated_at: ProviderTime | None = None


class StoredPhoneNumberAttributes(StoredPcoModel):
    number: str
    e164: str | None = None
    primary: bool = False
    updated_at: ProviderTime | None = None


class StoredPerson(StoredPcoModel):
    """What the store reads of a `Person`."""

    type: Literal["Person"]
    id: str = Field(min_length=1)
    attributes: StoredPersonAttributes | None = None


class _StoredPersonOwned(StoredPcoModel):
    id: str = Field(min_length=1)
    relationships: dict[str, StoredRelationship] = Field(default_factory=dict)

    @property
    def person_id(self) -> str | None:
        """The owning person, from `relationships.person` (as `_PersonOwned.person_id`)."""
        related = self.relationships.get("person")
        if related is not None and isinstance(related.data, StoredRef):
            return related.data.id
        return None


class StoredEmail(_StoredPersonOwned):
    """What the store reads of an `Email`."""

    type: Literal["Email"]
    attributes: StoredEmailAttributes | None = None


class StoredPhoneNumber(_StoredPersonOwned):
    """What the store reads of a `PhoneNumber`."""

    type: Literal["PhoneNumber"]
    attributes: StoredPhoneNumberAttributes | None = None


class _StoredDocument(StoredPcoModel):
    meta: StoredMeta | None = None

    def _parent_person(self) -> str | None:
        parent = self.meta.parent if self.meta is not None else None
        return parent.id if parent is not None and parent.type == "Person" else None


class StoredPersonDocument(_StoredDocument):
    """What the store reads of a `Document` about a `Person`."""

    data: StoredPerson

    @property
    def person_id(self) -> str | None:
        return self.data.id


class StoredEmailDocument(_StoredDocument):
    """What the store reads of a `Document` about an `Email`."""

    data: StoredEmail

    @property
    def person_id(self) -> str | None:
        parent = self._parent_person()
        return parent if parent is not None else self.data.person_id


class StoredPhoneNumberDocument(_StoredDocument):
    """What the store reads of a `Document` about a `PhoneNumber`."""

    data: StoredPhoneNumber

    @property
    def person_id(self) -> str | None:
        parent = self._parent_person()
        return parent if parent is not None else self.data.person_id


StoredDocument = StoredPersonDocument | StoredEmailDocument | StoredPhoneNumberDocument
_STORED: dict[str, TypeAdapter[Any]] = {
    "person": TypeAdapter(StoredPersonDocument),
    "email": TypeAdapter(StoredEmailDocument),
    "phone_number": TypeAdapter(StoredPhoneNumberDocument),
}


def parse_stored_document(
    resource: str, data: bytes | str, *, destroyed: bool = False
) -> StoredDocument | Document:
    """One event's document as the store reads it, `resource` (`person`, `email`,
    `phone_number`: from the event type) saying which type to expect; anything else,
    or a document that is not that type, as `parse_document` reads it. `destroyed`
    as for `parse_document`: the `attributes` are ignored."""
    adapter = _STORED.get(resource)
    if adapter is not None:
        try:
            if destroyed and (document := _without_attributes(data)) is not None:
                parsed: StoredDocument = adapter.validate_python(document)
            else:
                parsed = adapter.validate_json(data)
        except ValidationError:
            pass
        else:
            return parsed
    return parse_document(data, destroyed=destroyed)
