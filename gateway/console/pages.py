"""Rendering the console's pages: Jinja2 templates, autoescaped, strict headers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Own scripts and styles only (no inline code, no CDN); never framed, never cached."""

_templates = Environment(
    loader=PackageLoader("gateway.console", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def moment(value: datetime | str | None) -> str:
    """A time as the console shows it: `2026-12-07 13:10 UTC` (ISO text or a datetime)."""
    if value is None:
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_templates.filters["moment"] = moment


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(
        _templates.get_template(template).render(**values), status_code=status, headers=HEADERS
    )


def refused(title: str, sentence: str, status: int, **values: Any) -> HTMLResponse:
    """A refusal as a page: what happened in one sentence, and the way back."""
    return page("refused.html", status, title=title, sentence=sentence, **values)
