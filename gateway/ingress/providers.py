"""The provider registry: one line per provider, and what each is answered.

A provider's knowledge lives in its verifier (`verifiers/<name>.py`), its payload
models and normalizer (`schemas/<name>.py`) and its handlers (`consumers/`);
this table is the only place the gateway names them.

`RetryAnswers` is the one table of statuses a provider retries: every answer that
asks the sender to come back later (nothing could make the event durable, the
source is past its rate, the gateway failed) is taken from it, always with
`Retry-After`. GHL retries only 429; Google only 5xx; Calendly, PCO and Stripe retry
5xx (Stripe any non-2xx), and PCO counts every other answer as a failed delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import schemas.calendly
import schemas.ghl
import schemas.google
import schemas.pco
import schemas.stripe
import verifiers.calendly
import verifiers.ghl
import verifiers.google
import verifiers.pco
import verifiers.stripe
from schemas import Delivery, Normalized
from schemas.ghl_location import Claimant, bound_location, is_install, route
from schemas.tables import SOURCE_ACTIVE
from verifiers import Verifier, VerifierConfig

DISCONNECTED = "disconnected"
"""`sources.status` of a source an operator disconnected: its deliveries are not taken."""

Normalizer = Callable[[Delivery], Normalized]


class Refused(Exception):
    """A verified delivery this source must not take (403): `code` and a sentence."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class RetryAnswers:
    """The status a provider retries, for each way of asking it to come back later."""

    unavailable: int
    """Nothing can make the event durable, or the source's settings cannot be read."""
    throttled: int
    """The source sent more than its rate."""
    error: int
    """The gateway failed on the request."""


RETRIES_5XX = RetryAnswers(unavailable=503, throttled=503, error=503)
RETRIES_429 = RetryAnswers(unavailable=429, throttled=429, error=429)


@dataclass(frozen=True, slots=True)
class SourceFacts:
    """What the store says of a source besides its secrets, read once per cache entry."""

    status: str
    options: Mapping[str, Any] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    """Google: the source's live channels, channel id -> calendar id."""
    claimed: Mapping[str, Claimant] = field(default_factory=dict)
    """The bindings (`Provider.claim`) the provider's sources hold, e.g. GHL locations,
    and which source holds each."""


def _refuse_disconnected(delivery: Delivery) -> Normalized:
    raise Refused(
        "source_disconnected",
        "This source is disconnected and takes no deliveries; reconnect it or remove the "
        "webhook at the provider.",
    )


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    build_verifier: Callable[[VerifierConfig], Verifier]
    normalize: Normalizer
    secret: bool = False
    """Sources take a shared signing secret (`secret` in the admin API)."""
    credentials: bool = False
    """Sources take OAuth credentials (`credentials` in the admin API)."""
    retries: RetryAnswers = RETRIES_5XX
    bind: Callable[[SourceFacts], Normalizer] | None = None
    """The normalizer for one source, from its facts; without it, `normalize` while the
    source is not disconnected, a 403 once it is."""
    watches_channels: bool = False
    """Sources' facts carry their live channels (Google)."""
    claim: Callable[[Mapping[str, Any], Mapping[str, Any] | None], str | None] | None = None
    """What a source's options and account bind it to, which no other source of the
    provider may take (GHL: its location); the facts of every source carry the
    provider's claims."""
    stale: Callable[[SourceFacts, Mapping[str, str]], bool] | None = None
    """Whether a verified delivery's headers show the facts are out of date (a channel
    opened since they were read): the gateway reads them again, at most once a second."""

    @property
    def retry_status(self) -> int:
        """What to answer when nothing can make the event durable: the status it retries."""
        return self.retries.unavailable

    def normalizer(self, facts: SourceFacts) -> Normalizer:
        if self.bind is not None:
            return self.bind(facts)
        if facts.status == DISCONNECTED:
            return _refuse_disconnected
        return self.normalize


def _google(facts: SourceFacts) -> Normalizer:
    """Only the calendars of the source's live channels; nothing at all (but 200, which
    Google does not retry) once the source is disconnected or in error."""
    channels = facts.channels if facts.status == SOURCE_ACTIVE else {}

    def normalize(delivery: Delivery) -> Normalized:
        return schemas.google.normalize_on_channels(delivery, channels)

    return normalize


def _google_stale(facts: SourceFacts, headers: Mapping[str, str]) -> bool:
    if facts.status != SOURCE_ACTIVE:
        return False
    return schemas.google.notified_channel(headers) not in facts.channels


def _ghl(facts: SourceFacts) -> Normalizer:
    """A delivery is the source's whose location it names (`schemas.ghl_location.route`):
    one for another source's location is published as that source's (its tenant), one
    for a location nobody holds is refused by a source bound elsewhere."""
    claimed = facts.claimed
    taking = facts.status != DISCONNECTED

    def normalize(delivery: Delivery) -> Normalized:
        own = next(
            (where for where, held in claimed.items() if held.source_id == delivery.source_id),
            None,
        )
        owner = route(delivery.body, source_id=delivery.source_id, own=own, claimed=claimed)
        if isinstance(owner, str):
            raise Refused("location_mismatch", owner)
        if owner is None:
            return _ghl_event(delivery) if taking else _refuse_disconnected(delivery)
        if not owner.taking:
            return _refuse_disconnected(delivery)
        return _ghl_event(replace(delivery, source_id=owner.source_id, tenant=owner.tenant))

    return normalize


def _ghl_event(delivery: Delivery) -> Normalized:
    normalized = schemas.ghl.normalize(delivery)
    if is_install(delivery.body):
        return Normalized(normalized.delivery_id, ())
    return normalized


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "google",
            verifiers.google.build,
            schemas.google.normalize,
            credentials=True,
            bind=_google,
            watches_channels=True,
            stale=_google_stale,
        ),
        Provider("calendly", verifiers.calendly.build, schemas.calendly.normalize, secret=True),
        Provider("pco", verifiers.pco.build, schemas.pco.normalize, secret=True),
        Provider(
            "ghl",
            verifiers.ghl.build,
            schemas.ghl.normalize,
            retries=RETRIES_429,
            bind=_ghl,
            claim=bound_location,
        ),
        Provider("stripe", verifiers.stripe.build, schemas.stripe.normalize, secret=True),
    )
}
