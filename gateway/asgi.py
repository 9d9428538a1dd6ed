"""The ASGI entry point uvicorn imports in each worker process (`hookgate serve`)."""

from __future__ import annotations

from starlette.applications import Starlette

from gateway.logs import configure_logging
from gateway.settings import Settings
from gateway.wiring import build_app


def app_from_environment() -> Starlette:
    """Build the app from `HOOKGATE_*` (each uvicorn worker calls this once)."""
    settings = Settings()
    configure_logging(settings.log_level)
    return build_app(settings)
