"""The Kubernetes manifests in deploy/, checked without a cluster: every document against the
Kubernetes JSON schemas that the kubernetes-validate package ships (strict: unknown fields
are errors), then what the schemas cannot know: probes on facelive's own endpoints, env
names that facelive reads, secrets referenced and never inlined, and a real server started
with the Deployment's environment."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from databases import create_database, drop_database
from facelive.settings import Settings
from live_server import LiveServer

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = sorted((REPO / "deploy").glob("*.yaml"))
# The Kubernetes version the manifests are written for (docs/deploy.md says the same).
KUBERNETES_VERSION = "1.33.0"
# Settings that are secrets: only ever read from the Secret, never written in a manifest.
SECRET_SETTINGS = {"FACELIVE_SECRET_KEY", "FACELIVE_DATABASE_URL", "FACELIVE_ADMIN_TOKEN"}
SECRET_NAME = "facelive"


def documents() -> list[dict[str, Any]]:
    found = []
    for path in MANIFESTS:
        with path.open() as f:
            found += [doc for doc in yaml.safe_load_all(f) if doc is not None]
    return found


def only(kind: str) -> dict[str, Any]:
    [doc] = [doc for doc in documents() if doc["kind"] == kind]
    return doc


def container() -> dict[str, Any]:
    [main] = only("Deployment")["spec"]["template"]["spec"]["containers"]
    assert isinstance(main, dict)
    return main


def env_entries() -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container()["env"]}


def test_every_document_is_valid_kubernetes() -> None:
    assert [path.name for path in MANIFESTS] == [
        "deployment.yaml",
        "disruption-budget.yaml",
        "service.yaml",
    ]
    for doc in documents():
        validated = kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert validated == KUBERNETES_VERSION.rsplit(".", 1)[0]
    assert sorted(doc["kind"] for doc in documents()) == [
        "Deployment",
        "PodDisruptionBudget",
        "Service",
    ]


def test_the_validator_refuses_a_misspelt_field() -> None:
    """Strict validation is what catches typos: a probe under a wrong name must fail."""
    broken = copy.deepcopy(only("Deployment"))
    main = broken["spec"]["template"]["spec"]["containers"][0]
    main["readinessProbes"] = main.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_probes_point_at_readyz_and_healthz() -> None:
    main = container()
    [port] = main["ports"]
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert main["startupProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    env = env_entries()
    assert int(env["FACELIVE_PORT"]["value"]) == port["containerPort"]
    assert env["FACELIVE_HOST"]["value"] == "0.0.0.0"  # reachable from the Service


def test_the_service_reaches_the_deployments_pods() -> None:
    deployment, service = only("Deployment"), only("Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert only("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == container()["ports"][0]["name"]


def test_env_names_are_facelive_settings() -> None:
    known = {f"FACELIVE_{name.upper()}" for name in Settings.model_fields}
    names = set(env_entries())
    assert names <= known, names - known
    plain = {
        name.removeprefix("FACELIVE_").lower(): entry["value"]
        for name, entry in env_entries().items()
        if "value" in entry
    }
    Settings(**plain)  # every value written in the manifest is a valid setting


def test_secrets_are_referenced_not_inlined() -> None:
    env = env_entries()
    assert set(env) & SECRET_SETTINGS == SECRET_SETTINGS
    for name in SECRET_SETTINGS:
        assert "value" not in env[name], f"{name} is written in the manifest"
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == SECRET_NAME
    assert "envFrom" not in container()
    assert all(doc["kind"] != "Secret" for doc in documents())  # created by the operator


def test_resources_are_sized_from_the_docs() -> None:
    resources = container()["resources"]
    # Two cores, as measured in docs/performance.md; requests = limits: Guaranteed QoS.
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == "2"
    assert env_entries()["FACELIVE_WORKERS"]["value"] == "1"
    mebibytes = {"Mi": 1, "Gi": 1024}
    memory = resources["limits"]["memory"]
    assert mebibytes[memory[-2:]] * int(memory[:-2]) >= 625  # the peak the docs measured


def test_deploy_doc_shows_every_manifest() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    for path in MANIFESTS:
        assert f"deploy/{path.name}" in text
    assert KUBERNETES_VERSION.rsplit(".", 1)[0] in text
    for key in ("secret-key", "database-url", "admin-token"):
        assert key in text  # how to create the Secret the Deployment reads


def test_the_deployments_environment_starts_a_server(
    model_dir: Path, tmp_path: Path, postgres_server: str
) -> None:
    """A real ``facelive serve`` with the manifest's environment (the Secret's values made
    up here; loopback and the shared models instead of 0.0.0.0 and the image's /models)
    answers both probes and a request."""
    name = f"facelive_deploy_{uuid.uuid4().hex[:8]}"
    secret = {
        "FACELIVE_SECRET_KEY": "ab" * 32,
        "FACELIVE_DATABASE_URL": create_database(postgres_server, name),
        "FACELIVE_ADMIN_TOKEN": "deploy-test-admin-token-0123",
    }
    env = {n: e["value"] for n, e in env_entries().items() if "value" in e}
    env.update(secret, FACELIVE_HOST="127.0.0.1", FACELIVE_MODEL_DIR=str(model_dir))
    live = LiveServer(tmp_path / "pod", env)
    try:
        live.start()
        for path in ("/healthz", "/readyz"):
            assert live.request("GET", path).status == 200
        assert live.first_key is not None
        assert live.check({}).json["code"] == 4001
    finally:
        live.stop()
        drop_database(postgres_server, name)
