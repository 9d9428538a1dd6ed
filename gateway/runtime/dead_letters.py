"""`GET /admin/dead-letters` and `POST /admin/dead-letters/{id}/replay`.

On the embedded default the dead letters are the store's `dead_letters` rows
(`consumers.dead_letter_table`); one is replayed with the handlers this process runs
(the embedded consumers), as `hookgate replay` would. With Kafka they are on
`{prefix}.dlq` and `hookgate replay` re-drives them: these routes say so.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consumers.dead_letter_table import Apply, DeadLetterTable, ParkedLetter
from gateway.app import GatewayContext
from gateway.ingress.responses import JSON, error


def as_json(letter: ParkedLetter) -> dict[str, object]:
    """A dead letter as the admin API shows it: no key, no payload."""
    return {
        "id": letter.id,
        "topic": letter.topic,
        "offset": letter.offset,
        "event_type": letter.event_type,
        "event_id": letter.event_id,
        "attempts": letter.attempts,
        "error_class": letter.error_class,
        "error": letter.error,
        "failed_at": letter.failed_at.isoformat(),
    }


class DeadLetterAdmin:
    """The routes, and the handlers to replay with once the embedded consumers run."""

    def __init__(self) -> None:
        self.apply: Apply | None = None
        """Set while this process's embedded consumers run."""

    def admin_routes(self, context: GatewayContext) -> Sequence[BaseRoute]:
        table = DeadLetterTable(context.engine, clock=context.clock)
        kafka = bool(context.settings.kafka_bootstrap_servers)
        dlq = context.settings.dlq_topic

        def on_kafka() -> Response:
            return error(
                409,
                "dead_letters_on_kafka",
                f"With Kafka the dead letters are on {dlq}: re-drive them with hookgate replay.",
            )

        async def listed(request: Request) -> Response:
            if kafka:
                return on_kafka()
            return JSON({"dead_letters": [as_json(letter) for letter in await table.waiting()]})

        async def replay(request: Request) -> Response:
            if kafka:
                return on_kafka()
            given = request.path_params["letter_id"]
            if self.apply is None:
                return error(
                    503, "consumers_stopped", "The consumers of this process are not running."
                )
            report = await table.replay_one(int(given), self.apply) if given.isdigit() else None
            if report is None:
                return error(404, "unknown_dead_letter", "No dead letter with this id waits.")
            answer: dict[str, object] = {"id": int(given), "replayed": report.replayed == 1}
            if report.errors:
                answer["detail"] = report.errors[0]
            return JSON(answer)

        return [
            Route("/dead-letters", listed, methods=["GET"]),
            Route("/dead-letters/{letter_id}/replay", replay, methods=["POST"]),
        ]
