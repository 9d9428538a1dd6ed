"""Admin request bodies: read under a bound, parsed, and every refusal naming its field.

Whatever a caller sends to a body-taking admin route gets a 413 (`body_too_large`,
over `MAX_BODY_BYTES`) or a 400 `{"error", "detail", "field"}`: `invalid_json` for a
body that is not a JSON object (invalid UTF-8 included), `invalid_request` for a
field of the wrong type, missing, blank, or out of bounds; never a 500. Details and
field names are bounded and never carry a value the caller sent.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import orjson
from pydantic import AfterValidator, BaseModel, Field, Strict, ValidationError
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import Response

from gateway.ingress.body import BodyTooLarge, ClientGone, declared_too_large, read_bounded
from gateway.ingress.responses import JSON
from schemas.fields import not_blank, printable

MAX_BODY_BYTES = 64 * 1024
MAX_TENANT_CHARS = 200
MAX_OPTIONS_BYTES = 16 * 1024
"""`options` as stored (compact JSON)."""
MAX_OPTIONS_DEPTH = 8
"""Objects and arrays inside one another, `options` itself being the first."""
MAX_GRACE_SECONDS = 30 * 86_400
_MAX_FIELD_CHARS = 64

M = TypeVar("M", bound=BaseModel)


def refusal(detail: str, field: str, *, code: str = "invalid_request", status: int = 400) -> JSON:
    """The admin API's answer to input it cannot take."""
    return JSON({"error": code, "detail": detail, "field": field}, status_code=status)


async def parse_body(request: Request, model: type[M]) -> M | Response:
    """The request body as `model`, or the refusal to send instead."""
    too_large = refusal(
        f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB.",
        "body",
        code="body_too_large",
        status=413,
    )
    if declared_too_large(request.headers, MAX_BODY_BYTES):
        return too_large
    try:
        raw = await read_bounded(request.receive, MAX_BODY_BYTES)
    except BodyTooLarge:
        return too_large
    except ClientGone:
        return refusal("The request body did not arrive whole.", "body")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        return refusal(
            "The request body must be a JSON object (UTF-8).", "body", code="invalid_json"
        )
    return validated(model, payload)


def validated(
    model: type[M], payload: object, *, at: tuple[str, ...] = (), code: str = "invalid_request"
) -> M | Response:
    """`payload` as `model`, or the refusal (`code`) naming the first wrong field (under `at`)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_name((*at, *first["loc"]))
        return refusal(f"{field}: {first['msg'].rstrip('.')}.", field, code=code)


def field_name(location: tuple[int | str, ...]) -> str:
    """`a.b.0`, cut short and printable: an unknown key is the caller's text."""
    name = ".".join(str(part) for part in location) or "body"
    if len(name) > _MAX_FIELD_CHARS:
        name = name[: _MAX_FIELD_CHARS - 3] + "..."
    return "".join(char if char.isprintable() else "?" for char in name)


def _bounded_options(value: dict[str, Any]) -> dict[str, Any]:
    if _too_deep(value, MAX_OPTIONS_DEPTH):
        raise PydanticCustomError(
            "too_deep",
            "Must not nest objects or arrays more than {depth} deep",
            {"depth": MAX_OPTIONS_DEPTH},
        )
    if len(orjson.dumps(value)) > MAX_OPTIONS_BYTES:
        raise PydanticCustomError(
            "too_large", "Must be at most {size} KiB as JSON", {"size": MAX_OPTIONS_BYTES // 1024}
        )
    return value


def _too_deep(value: object, allowed: int) -> bool:
    """True when `value` nests containers more than `allowed` deep (stops looking there)."""
    if not isinstance(value, dict | list):
        return False
    if allowed == 0:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_too_deep(child, allowed - 1) for child in children)


Tenant = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TENANT_CHARS),
    AfterValidator(not_blank),
    AfterValidator(printable),
]
"""A tenant name: printable, not blank, at most 200 characters."""

Options = Annotated[dict[str, Any], AfterValidator(_bounded_options)]
"""A source's options: a JSON object, bounded in depth and size."""

GraceSeconds = Annotated[int, Strict(), Field(ge=0, le=MAX_GRACE_SECONDS)]
"""How long a rotated-out secret stays valid: 0 (revoked at once) to 30 days."""
