"""The imports' metrics: syncs by outcome, and the changes reconciliations found.

`hookgate_syncs_total{provider, mode, status}` counts finished syncs.
`hookgate_reconcile_changes_total{provider}` counts what a sync of a source imported
before found changed (created, updated or deleted rows): had every webhook arrived,
those rows would have been `unchanged`, so a rising count means the provider or the
webhook path is losing events.
`hookgate_webhooks_reprovisioned_total{provider}` counts the times a reconciliation
found a source's subscription lost or disabled at the provider and made it again.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter

from consumers.imports.jobs import SyncJob
from schemas.sync_store import SYNC_STATUSES

MODES = ("full", "incremental")


class ImportMetrics:
    def __init__(self, registry: CollectorRegistry, providers: Iterable[str]) -> None:
        """`providers`: those with an import, the label values made at start."""
        self._providers = frozenset(providers)
        self.syncs = Counter(
            "hookgate_syncs_total",
            "Syncs (imports and reconciliations) finished, by status.",
            ["provider", "mode", "status"],
            registry=registry,
        )
        self.changes = Counter(
            "hookgate_reconcile_changes_total",
            "Rows a sync of an already imported source created, updated or deleted: "
            "changes no webhook delivered.",
            ["provider"],
            registry=registry,
        )
        self.reprovisioned = Counter(
            "hookgate_webhooks_reprovisioned_total",
            "Times a reconciliation found a source's webhook subscriptions lost or "
            "disabled at the provider and provisioned them again.",
            ["provider"],
            registry=registry,
        )
        for provider in sorted(self._providers):
            self.changes.labels(provider)
            self.reprovisioned.labels(provider)
            for mode in MODES:
                for status in SYNC_STATUSES[1:]:
                    self.syncs.labels(provider, mode, status)

    def webhooks_reprovisioned(self, provider: str) -> None:
        if provider in self._providers:
            self.reprovisioned.labels(provider).inc()

    def finished(self, job: SyncJob, *, reconciliation: bool) -> None:
        if job.provider not in self._providers or job.mode not in MODES:
            return
        self.syncs.labels(job.provider, job.mode, job.status).inc()
        if reconciliation:
            counts = job.counts
            found = counts["items_created"] + counts["items_updated"] + counts["items_deleted"]
            self.changes.labels(job.provider).inc(found)
