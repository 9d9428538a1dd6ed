"""A booking's state, computed from its facts by precedence.

    refunded         the payment is refunded in full
    canceled         the current invitee canceled (a reschedule is no cancel)
    completed        paid, scheduled, and the meeting has ended
    confirmed        paid and scheduled
    initiated        paid, not scheduled yet (also: nothing happened yet)
    abandoned        unpaid, and every checkout session expired
    payment_failed   unpaid, and a payment attempt failed
    payment_pending  unpaid, a checkout session open
    scheduled        unpaid, no checkout, scheduled

The first that holds wins, so the state depends on which facts are known, never on
the order they became known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consumers.bookings.facts import (
    CANCELED,
    CHECKOUT,
    ENDED,
    EXPIRED,
    INTENT,
    INVITEE,
    PAID,
    PAYMENT_FAILED,
    REFUND,
    REFUNDED,
    RESCHEDULED_TO,
    SCHEDULED,
    Fact,
    Link,
    key_of,
    kind_of,
)
from consumers.versions import parse_time


@dataclass(frozen=True, slots=True)
class Derived:
    """The state and the `booking_payments` columns the facts give."""

    state: str
    invitee_uri: str | None = None
    event_uri: str | None = None
    email: str | None = None
    name: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    checkout_session_id: str | None = None
    payment_intent_id: str | None = None
    stripe_source_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    paid_at: datetime | None = None
    refunded_at: datetime | None = None
    amount_refunded: int | None = None

    def columns(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def derive(facts: Sequence[Fact], links: Iterable[Link]) -> Derived:
    """The booking that `facts` (of all its subjects) and `links` describe."""
    named: dict[str, list[Fact]] = {}
    for fact in facts:
        named.setdefault(fact.name, []).append(fact)
    invitee = _current_invitee(named.get(SCHEDULED, []), named.get(RESCHEDULED_TO, []), links)
    intent = _first(named.get(INTENT, []))
    paid = sorted(named.get(PAID, []), key=lambda fact: (fact.occurred_at, fact.subject))
    opened = sorted(
        (fact for fact in facts if kind_of(fact.subject) == CHECKOUT),
        key=lambda fact: (fact.occurred_at, fact.subject, fact.name),
    )
    refunded, refunded_at = _refunded(named.get(REFUNDED, []))
    money = _value(paid) or _value([fact for fact in opened if fact.name != EXPIRED][-1:])
    amount = money.get("amount")
    full_refund = any(fact.value.get("full") for fact in named.get(REFUNDED, []))
    if paid and amount is not None and refunded >= amount:
        full_refund = True
    scheduled = invitee.value if invitee is not None else {}
    wanted = intent.value if intent is not None else {}
    return Derived(
        state=_state(named, invitee, bool(paid), opened, full_refund),
        invitee_uri=key_of(invitee.subject) if invitee is not None else None,
        event_uri=scheduled.get("event_uri"),
        email=scheduled.get("email") or wanted.get("email"),
        name=scheduled.get("name") or wanted.get("name"),
        start_time=parse_time(scheduled.get("start_time")),
        end_time=parse_time(scheduled.get("end_time")),
        checkout_session_id=money.get("checkout_session_id") or _session(opened),
        payment_intent_id=money.get("payment_intent_id"),
        stripe_source_id=_value(opened).get("stripe_source_id"),
        amount=amount,
        currency=money.get("currency"),
        paid_at=paid[0].occurred_at if paid else None,
        refunded_at=refunded_at,
        amount_refunded=refunded or None,
    )


def _state(
    named: Mapping[str, Sequence[Fact]],
    invitee: Fact | None,
    paid: bool,
    checkout_facts: Sequence[Fact],
    full_refund: bool,
) -> str:
    """The precedence of the module's docstring."""
    canceled = invitee is not None and any(
        fact.subject == invitee.subject for fact in named.get(CANCELED, [])
    )
    checkouts = {fact.subject for fact in checkout_facts}
    expired = {fact.subject for fact in named.get(EXPIRED, [])}
    if full_refund:
        return "refunded"
    if canceled:
        return "canceled"
    if paid:
        if invitee is None:
            return "initiated"
        return "completed" if ENDED in named else "confirmed"
    if checkouts and checkouts <= expired:
        return "abandoned"
    if PAYMENT_FAILED in named:
        return "payment_failed"
    if checkouts:
        return "payment_pending"
    return "scheduled" if invitee is not None else "initiated"


def _first(facts: Sequence[Fact]) -> Fact | None:
    return min(facts, key=lambda fact: (fact.occurred_at, fact.event_id), default=None)


def _value(facts: Sequence[Fact]) -> dict[str, Any]:
    """The merged values of `facts`, earlier ones winning."""
    merged: dict[str, Any] = {}
    for fact in reversed(facts):
        merged.update({k: v for k, v in fact.value.items() if v is not None})
    return merged


def _session(opened: Sequence[Fact]) -> str | None:
    return key_of(opened[-1].subject) if opened else None


def _current_invitee(
    scheduled: Sequence[Fact], rescheduled: Sequence[Fact], links: Iterable[Link]
) -> Fact | None:
    """The booking's invitee now: one no other invitee replaced (the latest if several;
    while a reschedule's new invitee is not known yet, the old one)."""
    replaced = {fact.subject for fact in rescheduled}
    replaced |= {
        link.parent
        for link in links
        if kind_of(link.subject) == INVITEE and kind_of(link.parent) == INVITEE
    }
    ordered = sorted(scheduled, key=lambda fact: (fact.occurred_at, fact.subject))
    current = [fact for fact in ordered if fact.subject not in replaced]
    chosen = current or ordered
    return chosen[-1] if chosen else None


def _refunded(facts: Sequence[Fact]) -> tuple[int, datetime | None]:
    """The amount refunded: the largest a charge reports, or the sum of the refunds
    seen one by one, whichever is more; and when the first refund was seen."""
    charged = max(
        (
            int(fact.value.get("amount_refunded") or 0)
            for fact in facts
            if kind_of(fact.subject) != REFUND
        ),
        default=0,
    )
    summed = sum(
        int(fact.value.get("amount_refunded") or 0)
        for fact in facts
        if kind_of(fact.subject) == REFUND
    )
    first = min((fact.occurred_at for fact in facts), default=None)
    return max(charged, summed), first
