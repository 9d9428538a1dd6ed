"""The normalized event: a CloudEvents 1.0 envelope, and its Kafka binary binding.

Every provider's delivery becomes one or more `CloudEvent`s. On the bus (Kafka, or
the embedded spool) an event travels in binary content mode: the record value is
`data` (JSON bytes, as the provider sent it where possible, so nothing is
re-serialized), the record key is `partitionkey` (`{tenant}:{resource}`, so one
resource's events keep their order), and the attributes are `ce_*` headers.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

KafkaHeaders = list[tuple[str, bytes]]


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event with hookgate's extensions `tenant` and `provider`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    time: AwareDatetime
    subject: str
    datacontenttype: Literal["application/json"] = "application/json"
    tenant: str
    provider: str
    partitionkey: str
    data: bytes
    """The event data, JSON-encoded."""
    syncid: str | None = None
    """Extension `syncid`: the import that published this event (`….synced`, and the
    `….deleted` of a reconciliation); None on webhook events."""
    reason: str | None = None
    """Extension `reason`: why an event was made where it is not the provider's word
    (`reconciled`: a full sync did not see the record)."""
    objectkey: str | None = None
    """Extension `objectkey`: the change an event reports, where a provider may report one
    change in several events with different ids (Stripe: `{object id}:{type}`)."""

    def data_json(self) -> Any:
        """The decoded event data."""
        return orjson.loads(self.data)

    def kafka_headers(self) -> KafkaHeaders:
        """The CloudEvents Kafka binding headers (binary content mode)."""
        headers = self._core_headers()
        if self.syncid is not None:
            headers.append(("ce_syncid", self.syncid.encode()))
        if self.reason is not None:
            headers.append(("ce_reason", self.reason.encode()))
        if self.objectkey is not None:
            headers.append(("ce_objectkey", self.objectkey.encode()))
        return headers

    def _core_headers(self) -> KafkaHeaders:
        return [
            ("ce_specversion", b"1.0"),
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_time", format_time(self.time).encode()),
            ("ce_subject", self.subject.encode()),
            ("content-type", b"application/json"),
            ("ce_tenant", self.tenant.encode()),
            ("ce_provider", self.provider.encode()),
        ]

    @classmethod
    def from_kafka(
        cls, headers: Sequence[tuple[str, bytes]], key: bytes | None, value: bytes
    ) -> CloudEvent:
        """Rebuild an event from a Kafka record in binary content mode.

        The consumers call this for every record, so it makes the checks validation
        would (a missing header raises `KeyError`, an undecodable one
        `UnicodeDecodeError`, a time without a timezone or a value that is not bytes
        `ValueError`: the runner parks such a record) and then fills the model's
        fields directly, as `model_construct` does, at a third of validation's cost.
        """
        attrs = {name: raw.decode() for name, raw in headers}
        time = datetime.fromisoformat(attrs["ce_time"])
        if time.tzinfo is None:
            raise ValueError("ce_time must carry a timezone")
        if not isinstance(value, bytes):  # a null value (a Kafka tombstone) is no event
            raise ValueError("the record value must be the event data")  # noqa: TRY004
        fields = {
            "specversion": "1.0",
            "id": attrs["ce_id"],
            "source": attrs["ce_source"],
            "type": attrs["ce_type"],
            "time": time,
            "subject": attrs.get("ce_subject", ""),
            "datacontenttype": "application/json",
            "tenant": attrs["ce_tenant"],
            "provider": attrs["ce_provider"],
            "partitionkey": key.decode() if key else "",
            "data": value,
            "syncid": attrs.get("ce_syncid"),
            "reason": attrs.get("ce_reason"),
            "objectkey": attrs.get("ce_objectkey"),
        }
        event = cls.__new__(cls)
        object.__setattr__(event, "__dict__", fields)
        object.__setattr__(
            event,
            "__pydantic_fields_set__",
            fields.keys() - {"specversion", "datacontenttype", "syncid", "reason", "objectkey"},
        )
        object.__setattr__(event, "__pydantic_extra__", None)
        object.__setattr__(event, "__pydantic_private__", None)
        return event


@functools.lru_cache(maxsize=1024)
def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as CloudEvents asks.

    Cached: a delivery's time is formatted for its event id and again for its
    `ce_time` header, and a cache hit costs a fifth of formatting.
    """
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


EARLIEST_PROVIDER_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_PROVIDER_TIME = datetime(2200, 1, 1, tzinfo=UTC)
"""Provider times outside [1970, 2200) are refused at the edge (400 `malformed_payload`):
no provider means them, and the store's row versions and timestamp columns need a
bounded range (`consumers.versions`)."""


def in_provider_range(moment: datetime) -> datetime:
    """`moment` if it lies in [1970, 2200) (naive times count as UTC), else a validation error."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if not EARLIEST_PROVIDER_TIME <= aware < LATEST_PROVIDER_TIME:
        raise PydanticCustomError(
            "time_out_of_range", "a provider time must lie between 1970 and 2200"
        )
    return moment


ProviderTime = Annotated[AwareDatetime, AfterValidator(in_provider_range)]
"""A provider's time with an offset, in the range every store column and version takes."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified provider request, as the normalizers see it."""

    provider: str
    source_id: str
    tenant: str
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Normalized:
    """What a delivery turned into.

    `delivery_id` is what the gateway answers with; it is stable across the
    provider's retries. `events` may be empty for deliveries that are acknowledged
    but carry nothing to publish (Google's `sync` handshake).
    """

    delivery_id: str
    events: tuple[CloudEvent, ...]


class MalformedPayload(ValueError):
    """A verified delivery whose body is not what the provider documents."""

    code = "malformed_payload"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def malformed_from(
    exc: ValidationError, what: str, tags: frozenset[str] = frozenset()
) -> MalformedPayload:
    """The first problem pydantic found, as one sentence (union `tags` left out of the path)."""
    error = exc.errors(include_url=False, include_input=False)[0]
    path = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}"
        for part in error["loc"]
        if part not in tags
    ).lstrip(".")
    if error["type"] == "json_invalid":
        return MalformedPayload(f"The {what} is not valid JSON.")
    if not path:
        return MalformedPayload(f"The {what} must be a JSON object.")
    if error["type"] == "missing":
        return MalformedPayload(f"The {what} is missing `{path}`.")
    message = error["msg"]
    return MalformedPayload(
        f"The {what} has an invalid `{path}` ({message[:1].lower()}{message[1:]})."
    )


_Lean = TypeVar("_Lean")


def validate_lean(
    lean: TypeAdapter[_Lean], full: TypeAdapter[Any], data: bytes, what: str
) -> _Lean:
    """`data` read with `lean`, a model of only what the store reads, or `MalformedPayload`.

    `lean` keeps every constraint of `full` on the fields it declares, so it refuses
    nothing `full` accepts; when it refuses a body, the error is `full`'s, so a
    malformed event reads the same at the edge and in the store.
    """
    try:
        return lean.validate_json(data)
    except ValidationError as lean_error:
        try:
            full.validate_json(data)
        except ValidationError as exc:
            raise malformed_from(exc, what) from None
        raise malformed_from(lean_error, what) from None


def source_uri(provider: str, source_id: str) -> str:
    """The CloudEvents `source` of events from one hookgate source."""
    return f"urn:hookgate:{provider}:{source_id}"


def digest_id(*parts: str) -> str:
    """A stable event id from what identifies a delivery, for providers that send none."""
    joined = "\x1f".join(parts).encode()
    return hashlib.sha256(joined).hexdigest()[:32]


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object or raise `MalformedPayload` saying what was expected."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"The {what} is not valid JSON ({exc.msg}).") from None
    if not isinstance(value, dict):
        raise MalformedPayload(f"The {what} must be a JSON object.")
    return value


@dataclass(frozen=True, slots=True)
class BusRecord:
    """One record on the bus (Kafka or the embedded spool), in binary content mode."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    event_id: str

    @classmethod
    def from_event(cls, event: CloudEvent, topic: str) -> BusRecord:
        return cls(
            topic=topic,
            key=event.partitionkey.encode(),
            value=event.data,
            headers=tuple(event.kafka_headers()),
            event_id=event.id,
        )

    def to_event(self) -> CloudEvent:
        return CloudEvent.from_kafka(self.headers, self.key, self.value)
