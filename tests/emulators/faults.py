"""Queued fault answers: the next API requests answer a chosen status instead."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse, Response


@dataclass(frozen=True)
class Fault:
    status: int
    retry_after: str | None


class Faults:
    """What the next requests answer, in order (None: the real answer)."""

    def __init__(self) -> None:
        self.queue: list[Fault | None] = []
        self.served = 0

    def inject(
        self, status: int, *, times: int = 1, after: int = 0, retry_after: str | None = None
    ) -> None:
        """The next `times` requests, past the `after` next ones, answer `status`."""
        self.queue.extend([None] * after)
        self.queue.extend(Fault(status, retry_after) for _ in range(times))

    def next(self) -> Response | None:
        fault = self.queue.pop(0) if self.queue else None
        if fault is None:
            return None
        self.served += 1
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
        body = {"error": "injected_fault", "message": f"Injected fault {fault.status}"}
        return JSONResponse(body, status_code=fault.status, headers=headers)
