"""The dead-letter format, built and read in one place.

A dead letter is the original record (key, value, its CloudEvents headers) plus
`hookgate_dlq_*` headers saying where it came from (topic, and partition, offset and
consumer group where it was consumed), how many attempts were made, and the error's
class and one payload-free line. The consumers park what they cannot apply in this
form (on `{prefix}.dlq`, or in the store's `dead_letters` table), and so does the
gateway's relay for records Kafka refused for good; `hookgate replay` reads it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

PREFIX = "hookgate_dlq_"
H_TOPIC = PREFIX + "topic"
H_PARTITION = PREFIX + "partition"
H_OFFSET = PREFIX + "offset"
H_GROUP = PREFIX + "group"
H_ATTEMPTS = PREFIX + "attempts"
H_ERROR_CLASS = PREFIX + "error_class"
H_ERROR = PREFIX + "error"
H_FAILED_AT = PREFIX + "failed_at"

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class DeadLetter:
    """One record that could not be applied (or published), and why."""

    topic: str
    """The topic it was on, or on its way to."""
    partition: int | None
    """Where it was consumed from (None: it never reached its topic)."""
    offset: int | None
    key: bytes | None
    value: bytes | None
    headers: Headers
    group: str
    attempts: int
    error_class: str
    error: str

    def kafka_headers(self, failed_at: datetime) -> list[tuple[str, bytes]]:
        """The record's own headers, then this dead letter's."""
        place = [
            (name, str(value).encode())
            for name, value in ((H_PARTITION, self.partition), (H_OFFSET, self.offset))
            if value is not None
        ]
        return [
            *original_headers(self.headers),
            (H_TOPIC, self.topic.encode()),
            *place,
            (H_GROUP, self.group.encode()),
            (H_ATTEMPTS, str(self.attempts).encode()),
            (H_ERROR_CLASS, self.error_class.encode()),
            (H_ERROR, self.error.encode()),
            (H_FAILED_AT, failed_at.astimezone(UTC).isoformat().encode()),
        ]

    @classmethod
    def failed_again(
        cls,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes]],
        error_class: str,
        error: str,
    ) -> DeadLetter:
        """A dead letter read back (a DLQ record) that failed once more: one attempt
        more, the new error, the rest as it was."""
        kept = tuple(headers)
        found: Mapping[str, bytes] = dict(kept)
        partition, offset = found.get(H_PARTITION), found.get(H_OFFSET)
        return cls(
            topic=found.get(H_TOPIC, b"").decode(),
            partition=int(partition) if partition is not None else None,
            offset=int(offset) if offset is not None else None,
            key=key,
            value=value,
            headers=kept,
            group=found.get(H_GROUP, b"").decode(),
            attempts=int(found.get(H_ATTEMPTS, b"0")) + 1,
            error_class=error_class,
            error=error,
        )


def original_headers(headers: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """A record's headers without any dead-letter header."""
    return [(name, raw) for name, raw in headers if not name.startswith(PREFIX)]


def original_topic(headers: Iterable[tuple[str, bytes]]) -> str:
    """The topic a dead letter was on, or on its way to."""
    return dict(headers)[H_TOPIC].decode()
