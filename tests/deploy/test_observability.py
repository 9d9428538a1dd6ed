"""Alert rules and the dashboard query only metrics hookgate exports, and load.

The exported names come from real scrapes of the gateway app and the consumer
registry (`tests.deploy.exported`), so renaming a metric breaks these tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.exported import exported_names

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "hookgate.json"
METRIC = re.compile(r"\bhookgate_[a-z0-9_]+\b")
SEVERITIES = {"critical", "warning", "info"}
REQUIRED_ALERTS = {
    "HookgateSpoolGrowing",
    "HookgateConsumerLag",
    "HookgateDeadLetters",
    "HookgateVerificationFailureSpike",
    "HookgateGoogleChannelExpiring",
    "HookgateSourceInError",
    "HookgateNotReady",
}


@pytest.fixture(scope="module")
async def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    names = await exported_names(tmp_path_factory.mktemp("scrape"))
    assert "hookgate_deliveries_total" in names
    assert "hookgate_consumer_lag_events" in names
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_alerts_cover_what_on_call_must_hear_about() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED_ALERTS


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_each_alert_is_complete_and_names_exported_metrics(
    rule: dict[str, Any], exported: set[str]
) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    annotations = rule["annotations"]
    assert annotations["summary"]
    assert annotations["description"]
    assert annotations["runbook_url"] == f"deploy/RUNBOOK.md#{rule['alert'].lower()}"
    used = set(METRIC.findall(rule["expr"]))
    unknown = used - exported
    assert not unknown, f"{rule['alert']} queries metrics nothing exports: {unknown}"
    jobs = set(re.findall(r'job="([^"]+)"', rule["expr"]))
    assert jobs <= {"hookgate-gateway", "hookgate-consumer"}
    assert used or jobs, "an alert must watch something"


def test_each_alert_has_a_runbook_entry() -> None:
    runbook = (DEPLOY / "RUNBOOK.md").read_text()
    assert "## Alerts" in runbook
    alerts = runbook.split("## Alerts", 1)[1]
    for rule in rules():
        heading = f"### {rule['alert']}"
        assert heading in alerts, f"deploy/RUNBOOK.md Alerts has no '{heading}'"


def test_prometheus_scrapes_the_jobs_the_alerts_name() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"hookgate-gateway", "hookgate-consumer"} <= jobs
    assert config["rule_files"] == ["alerts.yml"]


def promtool() -> str:
    """The promtool `make test` put in the virtual environment, or one on PATH."""
    beside_python = Path(sys.executable).parent / "promtool"
    found = str(beside_python) if beside_python.exists() else shutil.which("promtool")
    assert found, "promtool is missing: `make test` fetches it (apt-get download prometheus)"
    return found


def test_promtool_accepts_the_rules_and_the_config() -> None:
    for command in (
        [promtool(), "check", "rules", str(ALERTS)],
        [promtool(), "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
    ):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_queries_only_exported_metrics(exported: set[str]) -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert not used - exported, f"the dashboard queries unknown metrics: {used - exported}"
    on_call = {
        "hookgate_deliveries_total",
        "hookgate_verification_failures_total",
        "hookgate_ingress_request_duration_seconds_bucket",
        "hookgate_spool_depth_events",
        "hookgate_consumer_lag_events",
        "hookgate_event_freshness_seconds_bucket",
        "hookgate_dlq_events",
        "hookgate_google_channel_next_expiry_seconds",
    }
    assert on_call <= used


def test_the_dashboard_is_provisioned_from_where_compose_mounts_it() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "hookgate"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    variable = dashboard["templating"]["list"][0]
    assert (variable["type"], variable["current"]["value"]) == ("datasource", datasource["uid"])
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "hookgate.yml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = dict(m.split(":")[:2] for m in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
