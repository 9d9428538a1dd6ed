"""The deploy files are valid: YAML parses, compose and Kubernetes pass their schemas
(bundled, offline), the pieces refer to each other correctly, the Dockerfile is sane."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30.0"
"""The oldest Kubernetes the manifests target (the preStop `sleep` action needs 1.30)."""
CRD_KINDS = {"ServiceMonitor"}
NOT_RESOURCES = {"Kustomization"}

Doc = dict[str, Any]


def yaml_files() -> list[Path]:
    return sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])


def k8s_docs() -> list[tuple[Path, Doc]]:
    return [
        (path, doc)
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]


def resources(kind: str) -> list[Doc]:
    return [doc for _, doc in k8s_docs() if doc["kind"] == kind]


def one(kind: str, name: str) -> Doc:
    found = [doc for doc in resources(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}"
    return found[0]


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs, f"{path} is empty"
    assert all(isinstance(doc, dict) for doc in docs)


def compose_errors(document: Doc) -> list[str]:
    schema_text = (
        files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    ).read_text()
    schema = json.loads(schema_text)
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def compose() -> Doc:
    document: Doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return document


def test_the_compose_file_passes_the_compose_spec_schema() -> None:
    assert compose_errors(compose()) == []


def test_the_compose_schema_check_catches_a_mistake() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["gateway"]["restart_policy"] = "always"
    assert compose_errors(broken)


def test_compose_runs_the_stack_the_operations_section_describes() -> None:
    services = compose()["services"]
    assert {"kafka", "postgres", "migrate", "gateway", "consumer", "prometheus", "grafana"} <= set(
        services
    )
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services["gateway"]["command"] == ["serve"]
    assert services["consumer"]["command"] == ["consume"]
    env = services["consumer"]["environment"]
    assert env["HOOKGATE_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["HOOKGATE_METRICS_PORT"] == "9100"
    assert env["HOOKGATE_HEALTHCHECK_URL"].endswith(":9100/healthz")
    mounts = services["prometheus"]["volumes"] + services["grafana"]["volumes"]
    for mount in mounts:
        source = mount.split(":", 1)[0]
        if source.startswith("./"):
            assert (DEPLOY / source).is_dir(), f"{source} is mounted but does not exist"
    secrets = json.dumps(services)
    assert "CHANGE-ME" not in secrets
    assert "${HOOKGATE_SECRET_KEYS:?" in secrets  # no default secret: the operator sets one


def k8s_errors(document: Doc) -> str | None:
    try:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize(
    ("path", "doc"),
    [(p, d) for p, d in k8s_docs() if d["kind"] not in CRD_KINDS | NOT_RESOURCES],
    ids=lambda v: v.name if isinstance(v, Path) else f"{v['kind']}/{v['metadata']['name']}",
)
def test_every_manifest_passes_the_kubernetes_schema(path: Path, doc: Doc) -> None:
    assert k8s_errors(doc) is None


def test_the_kubernetes_schema_check_is_strict_and_offline() -> None:
    statefulset = copy.deepcopy(one("StatefulSet", "hookgate-gateway"))
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGett"] = container["readinessProbe"].pop("httpGet")
    assert k8s_errors(statefulset) is not None
    job = copy.deepcopy(one("Job", "hookgate-migrate"))
    job["spec"]["backoffLimit"] = "six"
    assert k8s_errors(job) is not None


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk


def _pod(workload: Doc) -> Doc:
    pod: Doc = workload["spec"]["template"]["spec"]
    return pod


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_workloads_run_hardened_as_the_images_user() -> None:
    workloads = [*resources("StatefulSet"), *resources("Deployment"), *resources("Job")]
    assert len(workloads) == 3
    for workload in workloads:
        pod = _pod(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert container["resources"]["limits"]["memory"]
            sources = {
                ref.get("configMapRef", ref.get("secretRef"))["name"]
                for ref in container["envFrom"]
            }
            assert sources == {"hookgate-config", "hookgate-secrets"}
        if "selector" in workload["spec"] and workload["kind"] != "Job":
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert _selects(workload["spec"]["selector"]["matchLabels"], labels)


def test_the_gateway_probes_its_health_routes_and_keeps_its_spool_on_a_claim() -> None:
    gateway = one("StatefulSet", "hookgate-gateway")
    container = _pod(gateway)["containers"][0]
    assert container["args"] == ["serve"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port_names = {port["name"] for port in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["port"] in port_names
    claims = {claim["metadata"]["name"] for claim in gateway["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert "spool" in claims
    assert mounts["spool"] == "/var/lib/hookgate"
    spool_path = next(e["value"] for e in container["env"] if e["name"] == "HOOKGATE_SPOOL_PATH")
    assert spool_path.startswith(mounts["spool"] + "/")
    config = one("ConfigMap", "hookgate-config")["data"]
    assert config["HOOKGATE_WORKERS"] == "1"
    assert any(p["containerPort"] == int(config["HOOKGATE_PORT"]) for p in container["ports"])


def test_the_hpa_pdb_services_and_monitors_point_at_real_things() -> None:
    gateway = one("StatefulSet", "hookgate-gateway")
    consumer = one("Deployment", "hookgate-consumer")
    hpa = one("HorizontalPodAutoscaler", "hookgate-gateway")["spec"]
    assert (hpa["scaleTargetRef"]["kind"], hpa["scaleTargetRef"]["name"]) == (
        "StatefulSet",
        "hookgate-gateway",
    )
    assert hpa["minReplicas"] >= 2
    assert one("Service", gateway["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
    for workload in (gateway, consumer):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        ports = {p["name"] for c in _pod(workload)["containers"] for p in c["ports"]}
        pdbs = [
            p
            for p in resources("PodDisruptionBudget")
            if _selects(p["spec"]["selector"]["matchLabels"], labels)
        ]
        assert len(pdbs) == 1
        services = [s for s in resources("Service") if _selects(s["spec"]["selector"], labels)]
        assert services
        for service in services:
            assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    for monitor in resources("ServiceMonitor"):
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        matched = [
            s
            for s in resources("Service")
            if _selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert len(matched) == 1, monitor["metadata"]["name"]
        service_ports = {p["name"] for p in matched[0]["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= service_ports
        assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
        job = matched[0]["metadata"]["labels"][monitor["spec"]["jobLabel"]]
        assert job in {"hookgate-gateway", "hookgate-consumer"}


def test_the_secret_template_holds_placeholders_only() -> None:
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    assert k8s_errors(secret) is None
    assert all("CHANGE-ME" in value for value in secret["stringData"].values())


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, arguments = stripped.partition(" ")
            result.append((instruction.upper(), arguments.strip()))
    return result


def test_the_dockerfile_is_slim_multi_stage_non_root_and_healthchecked() -> None:
    instructions = dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
    stages = [i for i, (op, _) in enumerate(instructions) if op == "FROM"]
    assert len(stages) >= 2
    assert all(instructions[i][1].startswith("python:3.11-slim") for i in stages)
    final = instructions[stages[-1] :]
    users = [args for op, args in final if op == "USER"]
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    healthchecks = [args for op, args in final if op == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "CMD" in healthchecks[0]
    assert "HOOKGATE_HEALTHCHECK_URL" in healthchecks[0]
    env = " ".join(args for op, args in final if op == "ENV")
    assert "HOOKGATE_HEALTHCHECK_URL=http://127.0.0.1:8000/healthz" in env
    for op, args in instructions:
        assert not (op == "ADD" and re.search(r"https?://", args)), "ADD of a URL"
    assert ("ENTRYPOINT", '["hookgate"]') in final


def test_the_dockerfile_copies_every_package_the_project_ships() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = {
        source
        for op, args in dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
        if op == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    assert packages <= copied
    assert {"pyproject.toml", "README.md"} <= copied
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    for package in packages:
        assert f"!{package}/**" in ignore
