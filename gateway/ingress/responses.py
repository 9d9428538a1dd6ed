"""JSON answers: every error is `{"error": <stable code>, "detail": <one sentence>}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(
    status: int, code: str, detail: str | None = None, headers: Mapping[str, str] | None = None
) -> JSON:
    body: dict[str, str] = {"error": code}
    if detail:
        body["detail"] = detail
    return JSON(body, status_code=status, headers=headers)
