"""Planning Center's records as the emulator keeps them, and their JSON:API form."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso(moment: datetime) -> str:
    """PCO's timestamps: UTC, whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class PcoEmail:
    id: str
    address: str
    location: str
    primary: bool
    created_at: datetime
    updated_at: datetime

    def resource(self, person_id: str) -> dict[str, Any]:
        return {
            "type": "Email",
            "id": self.id,
            "attributes": {
                "address": self.address,
                "location": self.location,
                "primary": self.primary,
                "blocked": False,
                "created_at": iso(self.created_at),
                "updated_at": iso(self.updated_at),
            },
            "relationships": {"person": {"data": {"type": "Person", "id": person_id}}},
        }


@dataclass
class PcoPhone:
    id: str
    number: str
    location: str
    primary: bool
    created_at: datetime
    updated_at: datetime

    def resource(self, person_id: str) -> dict[str, Any]:
        digits = re.sub(r"\D", "", self.number)
        e164 = "+" + digits if self.number.startswith("+") else None
        if e164 is None and len(digits) == 10:
            e164 = "+1" + digits
        return {
            "type": "PhoneNumber",
            "id": self.id,
            "attributes": {
                "number": self.number,
                "e164": e164,
                "carrier": None,
                "location": self.location,
                "primary": self.primary,
                "created_at": iso(self.created_at),
                "updated_at": iso(self.updated_at),
            },
            "relationships": {"person": {"data": {"type": "Person", "id": person_id}}},
        }


@dataclass
class PcoPerson:
    id: str
    first_name: str
    last_name: str
    status: str
    created_at: datetime
    updated_at: datetime
    emails: list[PcoEmail] = field(default_factory=list)
    phone_numbers: list[PcoPhone] = field(default_factory=list)

    def resource(self, include: Iterable[str] = ()) -> dict[str, Any]:
        relationships: dict[str, Any] = {}
        if "emails" in include:
            relationships["emails"] = {
                "data": [{"type": "Email", "id": email.id} for email in self.emails]
            }
        if "phone_numbers" in include:
            relationships["phone_numbers"] = {
                "data": [{"type": "PhoneNumber", "id": phone.id} for phone in self.phone_numbers]
            }
        return {
            "type": "Person",
            "id": self.id,
            "attributes": {
                "first_name": self.first_name,
                "last_name": self.last_name,
                "name": f"{self.first_name} {self.last_name}".strip(),
                "status": self.status,
                "membership": None,
                "created_at": iso(self.created_at),
                "updated_at": iso(self.updated_at),
            },
            "relationships": relationships,
            "links": {"self": f"https://api.planningcenteronline.com/people/v2/people/{self.id}"},
        }

    def included(self, include: Iterable[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if "emails" in include:
            found.extend(email.resource(self.id) for email in self.emails)
        if "phone_numbers" in include:
            found.extend(phone.resource(self.id) for phone in self.phone_numbers)
        return found


@dataclass
class PcoMerger:
    id: str
    person_to_keep_id: str
    person_to_remove_id: str
    created_at: datetime


@dataclass
class PcoSubscription:
    id: str
    name: str
    url: str
    active: bool
    authenticity_secret: str
    application_id: str | None
    created_at: datetime
    updated_at: datetime

    def resource(self) -> dict[str, Any]:
        return {
            "type": "WebhookSubscription",
            "id": self.id,
            "attributes": {
                "name": self.name,
                "url": self.url,
                "active": self.active,
                "authenticity_secret": self.authenticity_secret,
                "application_id": self.application_id,
                "created_at": iso(self.created_at),
                "updated_at": iso(self.updated_at),
            },
        }


@dataclass
class PcoOrganization:
    id: str
    name: str
    time_zone: str = "America/Chicago"
    people: dict[str, PcoPerson] = field(default_factory=dict)
    mergers: list[PcoMerger] = field(default_factory=list)
    subscriptions: dict[str, PcoSubscription] = field(default_factory=dict)

    def resource(self) -> dict[str, Any]:
        return {
            "type": "Organization",
            "id": self.id,
            "attributes": {
                "name": self.name,
                "time_zone": self.time_zone,
                "country_code": "US",
                "date_format": "%m/%d/%Y",
                "contact_website": None,
                "created_at": "2015-01-01T00:00:00Z",
            },
            "links": {"self": "https://api.planningcenteronline.com/people/v2"},
        }
