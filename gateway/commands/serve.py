"""`hookgate serve`: the ingress (and, on the embedded default, the consumers)."""

from __future__ import annotations

import argparse

import uvicorn

from gateway.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve webhooks, the admin API, health and metrics",
        description="Serve POST /webhooks/{provider}/{source_id}, /admin, /healthz, /readyz "
        "and /metrics. Without HOOKGATE_KAFKA_BOOTSTRAP_SERVERS the consumers run in this "
        "process on the local spool; with it, a relay drains the spool into Kafka.",
    )
    parser.add_argument("--host", help="listen address (default: HOOKGATE_HOST)")
    parser.add_argument("--port", type=int, help="listen port (default: HOOKGATE_PORT)")
    parser.add_argument("--workers", type=int, help="worker processes (default: HOOKGATE_WORKERS)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    uvicorn.run(
        "gateway.asgi:app_from_environment",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=20,
        timeout_keep_alive=30,
    )
    return 0
