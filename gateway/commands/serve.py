"""`hookgate serve`: the ingress (and, on the embedded default, the consumers)."""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Generator

import uvicorn
from uvicorn.server import HANDLED_SIGNALS
from uvicorn.supervisors.multiprocess import Multiprocess

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


class _Server(uvicorn.Server):
    """uvicorn's server, but SIGTERM/SIGINT end in a clean exit 0 after the graceful shutdown.

    (uvicorn re-raises the captured signal once it has shut down, so the process would
    die of SIGTERM; a supervisor reads that as a crash.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run(args: argparse.Namespace, settings: Settings) -> int:
    config = uvicorn.Config(
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
    if config.workers > 1:
        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
        return 0
    _Server(config).run()
    return 0
