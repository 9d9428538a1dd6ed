"""Event data parsed once per event, with the model its CloudEvent type names.

The schemas' `parse_event` functions choose a model through a callable
discriminator, which has pydantic turn the JSON into Python objects before it
validates them again: about twice the cost of validating the JSON directly. The
handlers know the model from the event type already, so they validate directly.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas.envelope import malformed_from

M = TypeVar("M", bound=BaseModel)


def parse_as(model: type[M], data: bytes, what: str) -> M:
    """`data` (JSON) validated as `model`, or `MalformedPayload` naming `what`."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise malformed_from(exc, what) from None
