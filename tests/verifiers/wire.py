"""What a verifier receives: headers as the gateway hands them over (case-insensitive)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.datastructures import Headers

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
"""The fixed `now` every verifier test runs at."""


def received(headers: dict[str, str]) -> Headers:
    """`headers` as Starlette presents them to the gateway: names matched in any case."""
    return Headers(headers=headers)


def assert_no_leak(error: Exception, *secrets: str) -> None:
    """The error's message and repr name none of the given secrets or signatures."""
    for text in (str(error), repr(error)):
        for secret in secrets:
            assert secret not in text
