"""`hookgate serve`: the ingress (and, on the embedded default, the consumers).

One process (or one per `--workers`) serves the public port and, when
`HOOKGATE_ADMIN_PORT` is set, the admin port too: both sockets feed the same app,
which routes `/admin` by the port a connection arrived on (`gateway.ingress.listeners`).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
from collections.abc import Generator

import uvicorn
from uvicorn.server import HANDLED_SIGNALS
from uvicorn.supervisors.multiprocess import Multiprocess

from gateway.commands import CommandError
from gateway.ingress.limits import ServerConfig
from gateway.settings import Settings

GRACEFUL_SHUTDOWN_SECONDS = 20
KEEP_ALIVE_SECONDS = 30


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve webhooks, the admin API, health and metrics",
        description="Serve POST /webhooks/{provider}/{source_id}, /admin, /healthz, /readyz "
        "and /metrics. Without HOOKGATE_KAFKA_BOOTSTRAP_SERVERS the consumers run in this "
        "process on the local spool; with it, a relay drains the spool into Kafka. With "
        "HOOKGATE_ADMIN_PORT, /admin is served on that port only.",
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


def server_config(app: object, settings: Settings, **overrides: object) -> ServerConfig:
    """The uvicorn config `serve` runs with (tests serve through it too)."""
    values: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "loop": "uvloop",
        "log_config": None,
        "access_log": False,
        "server_header": False,  # no "server: uvicorn" on every answer
        "proxy_headers": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "max_header_bytes": settings.max_header_bytes,
        "header_timeout_seconds": settings.header_timeout_seconds,
    }
    values.update(overrides)
    return ServerConfig(app, **values)  # type: ignore[arg-type]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket, inheritable by uvicorn's worker processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}.") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def listeners(settings: Settings, host: str, port: int) -> list[socket.socket]:
    """The public socket and, with HOOKGATE_ADMIN_PORT, the admin socket."""
    if settings.admin_port is not None and settings.admin_port == port:
        raise CommandError("HOOKGATE_ADMIN_PORT must differ from the public port.")
    sockets = [bind(host, port)]
    if settings.admin_port is not None:
        sockets.append(bind(settings.admin_host or host, settings.admin_port))
    return sockets


def run(args: argparse.Namespace, settings: Settings) -> int:
    host = args.host or settings.host
    port = args.port or settings.port
    config = server_config(
        "gateway.runtime.asgi:app_from_environment",
        settings,
        factory=True,
        host=host,
        port=port,
        workers=args.workers or settings.workers,
    )
    sockets = listeners(settings, host, port)
    if config.workers > 1:
        Multiprocess(config, sockets=sockets).run()
        return 0
    _Server(config).run(sockets=sockets)
    return 0
