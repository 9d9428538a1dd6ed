"""A source's `credentials` and `options`, checked against its provider's template.

The models are the provider's knowledge (`schemas.credentials`, registered in
`schemas.templates`); what does not fit gets 400 `invalid_source` naming the field,
e.g. `credentials.location_id`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from gateway.admin.input import refusal, validated
from schemas.templates import TEMPLATES

INVALID_SOURCE = "invalid_source"


def parse_credentials(provider: str, given: dict[str, Any]) -> dict[str, str] | Response:
    """`given` as `provider`'s credentials, or the 400 naming the wrong field."""
    template = TEMPLATES.get(provider)
    if template is None:
        return refusal(
            f"{provider} sources take no `credentials`.", "credentials", code=INVALID_SOURCE
        )
    parsed = _checked(template.credentials, given, "credentials")
    if isinstance(parsed, Response):
        return parsed
    return {name: str(value) for name, value in parsed.model_dump().items()}


def check_options(provider: str, given: dict[str, Any]) -> Response | None:
    """The 400 naming the option that does not fit `provider`'s, or None (options are
    stored as given: a model names the options it checks, not all a source may keep)."""
    template = TEMPLATES.get(provider)
    if template is None or template.options is None:
        return None
    parsed = _checked(template.options, given, "options")
    return parsed if isinstance(parsed, Response) else None


def _checked(model: type[BaseModel], given: dict[str, Any], at: str) -> BaseModel | Response:
    return validated(model, given, at=(at,), code=INVALID_SOURCE)
