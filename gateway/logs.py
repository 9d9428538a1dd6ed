"""Structured logs: one JSON object per line, with the record's `extra` fields.

Nothing here knows a secret; callers log ids, codes and outcomes, never bodies,
signatures or keys.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID: ContextVar[str | None] = ContextVar("hookgate_request_id", default=None)
"""The id of the request being handled (set by `gateway.request_id`); logged on every line."""

DELIVERY_LOG = logging.getLogger("hookgate.delivery")

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)


_FIELDS = "_hookgate_fields"
"""A record attribute holding its `extra` fields ready to dump (set by `log_delivery`)."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
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


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
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

    It runs for every request, so it skips what `Logger.log` does that the line does
    not need (finding the caller's frame) and hands the formatter its fields ready.

    `reason` is a rejection's stable code; bodies, headers and signatures are never logged.
    """
    fields: dict[str, Any] = {
        "provider": provider,
        "source": source,
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
    # Built and handled directly: `Logger.log` would walk the stack for the caller.
    record = DELIVERY_LOG.makeRecord(
        DELIVERY_LOG.name, level, __file__, 0, "delivery", (), None, "log_delivery", fields
    )
    record.__dict__[_FIELDS] = fields
    DELIVERY_LOG.handle(record)
