"""Structured logs: one JSON object per line, with the record's `extra` fields.

Nothing here knows a secret; callers log ids, codes and outcomes, never bodies,
signatures or keys. What a caller chose (the provider and source id in a webhook
path) is clipped (`clip`), so a made-up 16 KB id makes a short line.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID: ContextVar[str | None] = ContextVar("hookgate_request_id", default=None)
"""The id of the request being handled (set by `gateway.ingress.request_id`); logged on
every line."""

DELIVERY_LOG = logging.getLogger("hookgate.delivery")

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)


_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}

MAX_CALLER_CHARS = 64
"""The most of a caller-chosen value a log line (or the rejection log) keeps."""


def clip(value: str, limit: int = MAX_CALLER_CHARS) -> str:
    """`value`, cut to `limit` characters (the last one an ellipsis) when longer."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


_FIELDS = "_hookgate_fields"
"""A record attribute holding its `extra` fields ready to dump (set by `log_delivery`)."""


class _Clock:
    """RFC 3339 UTC times with microseconds, the date and time part made once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        micros = min(999_999, round((created - second) * 1_000_000))
        return f"{self._prefix}.{micros:06d}+00:00"


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()

    def entry(self, created: float, levelno: int, logger: str, message: str) -> dict[str, Any]:
        """The fields every line starts with, the request id among them when there is one."""
        entry: dict[str, Any] = {
            "time": self._clock.format(created),
            "level": _LEVELS.get(levelno) or logging.getLevelName(levelno).lower(),
            "logger": logger,
            "message": message,
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        return entry

    def format(self, record: logging.LogRecord) -> str:
        entry = self.entry(record.created, record.levelno, record.name, record.getMessage())
        fields = record.__dict__.get(_FIELDS)
        if fields is not None:
            entry.update(fields)
        else:
            for key, value in record.__dict__.items():
                if key not in _STANDARD and not key.startswith("_"):
                    entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler of `JsonFormatter` lines that can also write one without a record.

    Lines written with `write_line` from the event loop's thread are gathered and
    written once at the end of the loop's current turn: each write to stderr is a
    system call (stderr is line-buffered), and under load one turn answers many
    requests. Anything else writes at once, after what is gathered, so the order
    holds; `flush` (logging's shutdown calls it) writes what is left.
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self.json = JsonFormatter()
        self.setFormatter(self.json)
        self._gathered: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def write_line(self, levelno: int, logger: str, message: str, fields: dict[str, Any]) -> None:
        entry = self.json.entry(time.time(), levelno, logger, message)
        entry.update(fields)
        line = orjson.dumps(entry, default=str).decode() + self.terminator
        loop = self._loop_here()
        with self.lock:  # type: ignore[union-attr]
            if loop is not None:
                self._gathered.append(line)
                if len(self._gathered) == 1:
                    loop.call_soon(self.flush)
                return
            self._write(line)

    def emit(self, record: logging.LogRecord) -> None:
        if self._gathered:  # Handler.handle holds the lock
            self._write("".join(self._gathered))
            self._gathered.clear()
        super().emit(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._gathered:
                lines = "".join(self._gathered)
                self._gathered.clear()
                self._write(lines)
            else:
                super().flush()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            super().flush()
        except Exception:  # noqa: BLE001 - as Handler.emit: report, never raise
            self.handleError(logging.makeLogRecord({"msg": "writing log lines failed"}))

    def _loop_here(self) -> asyncio.AbstractEventLoop | None:
        """The running loop when called on its thread (found once: each lookup is a getpid)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            return loop if threading.get_ident() == self._loop_thread else None
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        self._loop_thread = threading.get_ident()
        return self._loop


def _sole_json_handler(logger: logging.Logger, levelno: int) -> JsonLineHandler | None:
    """The one handler a record at `levelno` from `logger` would reach, if it is a
    filterless `JsonLineHandler` and no logger on the way filters; else None."""
    found: JsonLineHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if levelno < handler.level:
                continue
            if found is not None or not isinstance(handler, JsonLineHandler) or handler.filters:
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr at `level`, for the whole process.

    The JSON lines carry no thread or process names, so log records skip looking
    them up (the logging HOWTO's "Optimization"; the process id is a system call).
    """
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = JsonLineHandler(sys.stderr)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "sqlalchemy.engine", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def log_delivery(
    *,
    provider: str,
    source: str | None,
    outcome: str,
    status: int,
    latency_seconds: float,
    event_id: str | None = None,
    reason: str | None = None,
) -> None:
    """The one line per webhook delivery: who sent it, what became of it, how long it took.

    It runs for every request, so it is cheap: when the line's only destination is
    the process's `JsonLineHandler` (as `configure_logging` sets up), it is written
    without a `LogRecord`; otherwise (say, a test's capture handler) a record is made
    without `Logger.log`'s walk up the stack, its fields handed to the formatter ready.

    `reason` is a rejection's stable code; bodies, headers and signatures are never logged;
    `provider` and `source` come from the request's path, so they are clipped.
    """
    fields: dict[str, Any] = {
        "provider": clip(provider),
        "source": None if source is None else clip(source),
        "outcome": outcome,
        "status": status,
        "latency_ms": round(latency_seconds * 1000, 3),
    }
    if event_id is not None:
        fields["event_id"] = event_id
    if reason is not None:
        fields["reason"] = reason
    level = logging.WARNING if outcome == "unavailable" else logging.INFO
    if not DELIVERY_LOG.isEnabledFor(level):
        return
    handler = _sole_json_handler(DELIVERY_LOG, level)
    if handler is not None:  # the usual case in `hookgate serve`: no record needed
        handler.write_line(level, DELIVERY_LOG.name, "delivery", fields)
        return
    # Built and handled directly: `Logger.log` would walk the stack for the caller.
    record = DELIVERY_LOG.makeRecord(
        DELIVERY_LOG.name, level, __file__, 0, "delivery", (), None, "log_delivery", fields
    )
    record.__dict__[_FIELDS] = fields
    DELIVERY_LOG.handle(record)
