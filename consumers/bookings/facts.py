"""Facts, the subjects they are about, and the links between subjects.

An event shows facts ("invitee X was scheduled", "checkout session Y was paid") and
links ("Y pays for booking Z", "invitee W replaces invitee X"). Both merge by rules
that do not depend on order: of two versions of one fact the earliest is kept
(`occurred_at`, then the event id; a refund keeps the largest amount), and links are
only ever added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consumers.upsert import without_nul

BOOKING, INVITEE, CHECKOUT, PAYMENT, REFUND = "booking", "invitee", "checkout", "payment", "refund"

INTENT = "intent"
SCHEDULED = "scheduled"
CANCELED = "canceled"
RESCHEDULED_TO = "rescheduled_to"
CHECKOUT_OPENED = "checkout_opened"
PAID = "paid"
PAYMENT_FAILED = "payment_failed"
EXPIRED = "expired"
REFUNDED = "refunded"
ENDED = "ended"


def subject(kind: str, key: str) -> str:
    """`kind:key`, e.g. `booking:bkg_…`, `invitee:https://api.calendly.com/…`."""
    return f"{kind}:{key}"


def kind_of(name: str) -> str:
    return name.partition(":")[0]


def key_of(name: str) -> str:
    return name.partition(":")[2]


@dataclass(frozen=True, slots=True)
class Fact:
    subject: str
    name: str
    value: Mapping[str, Any]
    occurred_at: datetime
    event_id: str

    def _rank(self) -> tuple[Any, ...]:
        if self.name == REFUNDED:
            return (-int(self.value.get("amount_refunded") or 0), self.occurred_at, self.event_id)
        return (self.occurred_at, self.event_id)

    def kept_over(self, other: Fact) -> bool:
        """Whether this version of the fact wins over `other` (commutative merge)."""
        return self._rank() < other._rank()


@dataclass(frozen=True, slots=True)
class Link:
    """`subject` belongs with `parent` (read both ways: a booking's subjects are all
    those linked to it, however indirectly)."""

    subject: str
    parent: str


@dataclass(frozen=True, slots=True)
class Observation:
    """What one event shows."""

    facts: tuple[Fact, ...] = ()
    links: tuple[Link, ...] = field(default=())

    @property
    def subjects(self) -> set[str]:
        return {fact.subject for fact in self.facts} | {link.subject for link in self.links}

    def without_nul(self) -> Observation:
        """The observation with NUL dropped from every string, as every store write does
        (PostgreSQL refuses it): a NUL in a name never parks the event."""
        facts = tuple(
            Fact(
                _no_nul(fact.subject),
                fact.name,
                without_nul([dict(fact.value)])[0],
                fact.occurred_at,
                fact.event_id,
            )
            for fact in self.facts
        )
        links = tuple(Link(_no_nul(link.subject), _no_nul(link.parent)) for link in self.links)
        return Observation(facts, links)


def _no_nul(text: str) -> str:
    return text.replace("\x00", "")
