"""The normalized event envelope and the provider payload models."""

from schemas.envelope import (
    BusRecord,
    CloudEvent,
    Delivery,
    MalformedPayload,
    Normalized,
    digest_id,
    format_time,
    source_uri,
)

__all__ = [
    "BusRecord",
    "CloudEvent",
    "Delivery",
    "MalformedPayload",
    "Normalized",
    "digest_id",
    "format_time",
    "source_uri",
]
