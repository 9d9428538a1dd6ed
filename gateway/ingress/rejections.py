"""Recent rejected deliveries, for `GET /admin/rejections`: a bounded ring per process.

An entry holds when, which provider and source, the status, the stable code and
its sentence: never a body, a header or a secret. Provider and source id come
from the URL, so they are clipped to keep a flood of made-up paths small.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.logs import clip


@dataclass(frozen=True, slots=True)
class Rejection:
    at: datetime
    provider: str
    source_id: str
    status: int
    code: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.at.isoformat(),
            "provider": self.provider,
            "source_id": self.source_id,
            "status": self.status,
            "error": self.code,
            "detail": self.detail,
        }


class RejectionLog:
    def __init__(self, capacity: int = 200) -> None:
        self._entries: deque[Rejection] = deque(maxlen=max(1, capacity))
        self.total = 0

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def record(
        self, *, at: datetime, provider: str, source_id: str, status: int, code: str, detail: str
    ) -> None:
        self.total += 1
        self._entries.append(
            Rejection(
                at=at,
                provider=clip(provider),
                source_id=clip(source_id),
                status=status,
                code=code,
                detail=detail,
            )
        )

    def recent(self, limit: int | None = None) -> list[Rejection]:
        """Newest first."""
        newest_first = list(reversed(self._entries))
        return newest_first if limit is None else newest_first[: max(0, limit)]
