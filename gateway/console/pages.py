"""Rendering the console's pages: Jinja2 templates, autoescaped, strict headers."""

from __future__ import annotations

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


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(
        _templates.get_template(template).render(**values), status_code=status, headers=HEADERS
    )


def refused(title: str, sentence: str, status: int, **values: Any) -> HTMLResponse:
    """A refusal as a page: what happened in one sentence, and the way back."""
    return page("refused.html", status, title=title, sentence=sentence, **values)
