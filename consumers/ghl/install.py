"""GHL's `AppUninstall` → that location's source disconnected.

The gateway attributes a delivery to the source holding its `locationId`
(`schemas.ghl_location.route`), so the event's `source` is the uninstalled location's
source: it is marked `disconnected` and its credentials forgotten (the tokens died
with the install); every row it synced stays. `AppInstall` is acknowledged at the
gateway and never published: the OAuth connect makes the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.phones import source_id
from consumers.registry import HandlerRegistry, PreparedHandler
from schemas import CloudEvent
from schemas.tables import SOURCE_DISCONNECTED, WEBHOOKS_NONE, sources

UNINSTALL_TYPE = "ghl.app_uninstall.received"
DETAIL = "Disconnected: the GHL app was uninstalled from the location; synced rows kept."


class UninstallHandler(PreparedHandler[str]):
    """Disconnects the sources whose location uninstalled the app."""

    def prepare(self, event: CloudEvent) -> str:
        return source_id(event.source)

    async def write(
        self, connection: AsyncConnection, prepared: Sequence[tuple[CloudEvent, str]]
    ) -> None:
        ids = {source for _, source in prepared}
        await connection.execute(
            update(sources)
            .where(sources.c.id.in_(ids), sources.c.provider == "ghl")
            .values(
                status=SOURCE_DISCONNECTED,
                status_detail=DETAIL,
                credentials_ciphertext=None,
                webhooks=WEBHOOKS_NONE,
                updated_at=datetime.now(UTC),
            )
        )


def register(registry: HandlerRegistry) -> None:
    registry.register((UNINSTALL_TYPE,), UninstallHandler())
