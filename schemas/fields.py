"""Constrained text fields shared by the admin input and the provider templates."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

MAX_SECRET_CHARS = 4096
MAX_LOCATION_CHARS = 100
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
"""Control and format characters (NUL, newlines, bidi overrides ...), line separators."""


def not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "Must not be blank or only whitespace")
    return value


def printable(value: str) -> str:
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in value):
        raise PydanticCustomError(
            "control_characters", "Must not contain control or format characters"
        )
    return value


SecretText = Annotated[
    str, Field(min_length=1, max_length=MAX_SECRET_CHARS), AfterValidator(not_blank)
]
"""A secret or credential value: not blank, bounded (models add `repr=False`)."""

LocationId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_LOCATION_CHARS),
    AfterValidator(not_blank),
    AfterValidator(printable),
]
"""A GHL location (sub-account) id."""
