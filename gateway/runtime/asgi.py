"""The ASGI entry point uvicorn imports in each worker process (`hookgate serve`)."""

from __future__ import annotations

from starlette.applications import Starlette

from gateway.app import GatewayApp
from gateway.logs import configure_logging
from gateway.runtime.serve import build_app
from gateway.runtime.tuning import tune_gc
from gateway.settings import Settings


def app_from_environment() -> Starlette:
    """Build the app from `HOOKGATE_*` (each uvicorn worker calls this once)."""
    settings = Settings()
    configure_logging(settings.log_level)
    app = build_app(settings)
    if isinstance(app, GatewayApp):
        app.on_started = tune_gc
    return app
