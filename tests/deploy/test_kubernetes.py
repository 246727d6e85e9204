"""Static checks of the Kubernetes manifests in deploy/kubernetes/ (no cluster in CI).

Every manifest the kustomization lists validates, offline and strictly, against the OpenAPI
schemas of current Kubernetes releases (``kubernetes-validate`` carries them); the
ServiceMonitors, a CRD without a schema there, are checked by structure. Then what a broken
deployment would show only in a cluster: env names ``Settings`` does not read, Services and
monitors selecting no pod, probes on undeclared ports, a worker killed before its graceful
shutdown ends, and /metrics reachable from the Internet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from api.app import create_app
from api.pages import router as pages_router
from core.config import Settings
from core.temporal import ENVCONFIG_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes"
SECRET_EXAMPLE = BASE / "secret.example.yaml"

# The oldest Kubernetes minor still supported upstream and the newest the validator carries.
KUBERNETES_VERSIONS = ("1.33", kubernetes_validate.latest_version())
SETTINGS_ENV = {name.upper() for name in Settings.model_fields}
# Read by the Temporal SDK's environment configuration (core.temporal.connect), not Settings.
TEMPORAL_SDK_ENV = set(ENVCONFIG_VARIABLES)
SECRET_KEYS = {
    "DATABASE_URL",
    "DATABASE_PASSWORD",
    "API_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "CONVERSATION_KEY_SECRET",
}
IMAGE_UID = 10001  # the Dockerfile's user `app`
# Routes that stay inside the cluster: Prometheus and the kubelet's probes.
INTERNAL_PATHS = {"/metrics", "/healthz", "/readyz"}


def _load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    loaded = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def manifests(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    return [doc for name in kustomization["resources"] for doc in _load(BASE / name)]


def _one(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _pod_specs(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{m['kind']}/{m['metadata']['name']}": m["spec"]["template"]["spec"]
        for m in manifests
        if m["kind"] in ("Deployment", "Job")
    }


def _containers(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for spec in _pod_specs(manifests).values() for c in spec["containers"]]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_the_kustomization_lists_every_manifest_but_the_secret_example(
    kustomization: dict[str, Any],
) -> None:
    listed = set(kustomization["resources"])
    on_disk = {path.name for path in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {SECRET_EXAMPLE.name}
    assert len(listed) == len(kustomization["resources"]), "listed twice"
    assert SECRET_EXAMPLE.exists()
    assert {path.name for path in BASE.iterdir()} == on_disk | {"kustomization.yaml"}


def test_the_base_is_namespace_agnostic(
    kustomization: dict[str, Any], manifests: list[dict[str, Any]]
) -> None:
    assert "namespace" not in kustomization
    for manifest in [*manifests, *_load(SECRET_EXAMPLE)]:
        assert "namespace" not in manifest["metadata"], manifest["metadata"]["name"]
        assert manifest["kind"] != "Namespace"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(
    manifests: list[dict[str, Any]], version: str
) -> None:
    validated = set()
    for manifest in [*manifests, *_load(SECRET_EXAMPLE)]:
        if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked below
        # Raises ValidationError naming the field; offline, from the package's own schemas.
        kubernetes_validate.validate(manifest, version, strict=True)
        validated.add(manifest["kind"])
    assert validated >= {
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "Ingress",
    }


def test_the_service_monitors_select_services_and_their_ports(
    manifests: list[dict[str, Any]],
) -> None:
    monitors = [m for m in manifests if m["kind"] == "ServiceMonitor"]
    services = [m for m in manifests if m["kind"] == "Service"]
    assert {m["metadata"]["name"] for m in monitors} == {"wa-sessions-api", "wa-sessions-worker"}
    for monitor in monitors:
        name = monitor["metadata"]["name"]
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(monitor["spec"]) == {"selector", "endpoints"}
        selector = monitor["spec"]["selector"]["matchLabels"]
        selected = [s for s in services if _matches(selector, s["metadata"].get("labels", {}))]
        assert len(selected) == 1, f"{name} selects {len(selected)} Services"
        port_names = {port["name"] for port in selected[0]["spec"]["ports"]}
        assert monitor["spec"]["endpoints"], name
        for endpoint in monitor["spec"]["endpoints"]:
            assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
            assert endpoint["port"] in port_names, f"{name}: no port {endpoint['port']!r}"
            assert endpoint["path"] == "/metrics"


def _env_names(manifests: list[dict[str, Any]]) -> dict[str, str]:
    """Every env name the manifests set → where."""
    names = {}
    for manifest in manifests:
        if manifest["kind"] == "ConfigMap":
            names.update(
                dict.fromkeys(manifest["data"], f"ConfigMap/{manifest['metadata']['name']}")
            )
    for secret in _load(SECRET_EXAMPLE):
        names.update(dict.fromkeys(secret["stringData"], SECRET_EXAMPLE.name))
    for where, spec in _pod_specs(manifests).items():
        for container in spec["containers"]:
            for entry in container.get("env", []):
                names[entry["name"]] = where
    return names


def test_every_env_name_is_a_setting_or_the_temporal_sdks(
    manifests: list[dict[str, Any]],
) -> None:
    unknown = {
        name: where
        for name, where in _env_names(manifests).items()
        if name not in SETTINGS_ENV | TEMPORAL_SDK_ENV
    }
    assert unknown == {}


def test_the_secret_example_holds_the_secrets_and_only_placeholders() -> None:
    (secret,) = _load(SECRET_EXAMPLE)
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "wa-sessions"
    values = secret["stringData"]
    assert set(values) == SECRET_KEYS
    assert "TEMPORAL_API_KEY" in SECRET_EXAMPLE.read_text()  # documented, commented out
    for key, value in values.items():
        if key != "DATABASE_URL":
            assert value.startswith("REPLACE"), key
    assert "@" in values["DATABASE_URL"]
    assert ":" not in values["DATABASE_URL"].split("://", 1)[1].split("@", 1)[0], (
        "the password belongs in DATABASE_PASSWORD"
    )


def test_secrets_come_from_the_secret_only(manifests: list[dict[str, Any]]) -> None:
    (config_map,) = [m for m in manifests if m["kind"] == "ConfigMap"]
    assert not set(config_map["data"]) & (SECRET_KEYS | {"TEMPORAL_API_KEY"})
    assert all(m["kind"] != "Secret" for m in manifests)
    for where, spec in _pod_specs(manifests).items():
        for container in spec["containers"]:
            sources = container["envFrom"]
            assert {"configMapRef": {"name": config_map["metadata"]["name"]}} in sources, where
            assert {"secretRef": {"name": "wa-sessions"}} in sources, where
            for entry in container.get("env", []):
                assert entry["name"] not in SECRET_KEYS, where


def test_the_config_map_runs_production_without_start_up_migrations(
    manifests: list[dict[str, Any]],
) -> None:
    (config_map,) = [m for m in manifests if m["kind"] == "ConfigMap"]
    data = config_map["data"]
    assert all(isinstance(value, str) for value in data.values())
    assert data["ENVIRONMENT"] == "production"
    assert data["MIGRATE_ON_START"] == "false"
    # What the API and the worker would read from it (the Secret's placeholders are long).
    (secret,) = _load(SECRET_EXAMPLE)
    settings = Settings(**{k.lower(): v for k, v in {**data, **secret["stringData"]}.items()})
    assert settings.migrate_on_start is False
    assert settings.worker_processes == 1


def test_services_select_their_deployments(manifests: list[dict[str, Any]]) -> None:
    deployments = [m for m in manifests if m["kind"] == "Deployment"]
    for service in (m for m in manifests if m["kind"] == "Service"):
        selector = service["spec"]["selector"]
        selected = [
            d
            for d in deployments
            if _matches(selector, d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(selected) == 1, f"Service/{service['metadata']['name']}"
        (container,) = selected[0]["spec"]["template"]["spec"]["containers"]
        declared = {port["name"] for port in container["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in declared, service["metadata"]["name"]
    for deployment in deployments:
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _matches(deployment["spec"]["selector"]["matchLabels"], template_labels)


def test_budgets_and_the_autoscaler_target_the_right_pods(
    manifests: list[dict[str, Any]],
) -> None:
    api = _one(manifests, "Deployment", "wa-sessions-api")
    worker = _one(manifests, "Deployment", "wa-sessions-worker")
    for name, deployment in (("wa-sessions-api", api), ("wa-sessions-worker", worker)):
        budget = _one(manifests, "PodDisruptionBudget", name)
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    hpa = _one(manifests, "HorizontalPodAutoscaler", "wa-sessions-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "wa-sessions-api",
    }
    assert hpa["spec"]["minReplicas"] == api["spec"]["replicas"] == 2
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    # A CPU target needs CPU requests to compute utilisation from.
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert "cpu" in container["resources"]["requests"]
    assert not [m for m in manifests if m["kind"] == "HorizontalPodAutoscaler" and m is not hpa]


def test_probes_hit_declared_ports(manifests: list[dict[str, Any]]) -> None:
    api = _one(manifests, "Deployment", "wa-sessions-api")
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    worker = _one(manifests, "Deployment", "wa-sessions-worker")
    (worker_container,) = worker["spec"]["template"]["spec"]["containers"]
    assert "livenessProbe" in worker_container
    for container in _containers(manifests):
        ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe in container:
                port = container[probe]["httpGet"]["port"]
                assert port in ports or port in ports.values(), f"{container['name']} {probe}"


def test_ports_agree_with_the_settings(manifests: list[dict[str, Any]]) -> None:
    (config_map,) = [m for m in manifests if m["kind"] == "ConfigMap"]
    metrics_port = int(config_map["data"]["WORKER_METRICS_ADDRESS"].rpartition(":")[2])
    worker = _one(manifests, "Deployment", "wa-sessions-worker")
    (worker_container,) = worker["spec"]["template"]["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in worker_container["ports"]} == {
        "metrics": metrics_port
    }
    api = _one(manifests, "Deployment", "wa-sessions-api")
    (api_container,) = api["spec"]["template"]["spec"]["containers"]
    env = {entry["name"]: entry["value"] for entry in api_container["env"]}
    assert {p["name"]: p["containerPort"] for p in api_container["ports"]} == {
        "http": int(env["API_PORT"])
    }
    assert env["API_HOST"] == "0.0.0.0"


def test_the_worker_outlives_its_graceful_shutdown(manifests: list[dict[str, Any]]) -> None:
    (config_map,) = [m for m in manifests if m["kind"] == "ConfigMap"]
    grace = float(
        config_map["data"].get(
            "WORKER_SHUTDOWN_GRACE_SECONDS",
            Settings.model_fields["worker_shutdown_grace_seconds"].default,
        )
    )
    worker = _one(manifests, "Deployment", "wa-sessions-worker")
    # SIGTERM → the grace period → the worker's own shutdown: a margin of at least 15 s.
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= grace + 15


def test_commands_run_the_images_entry_points(manifests: list[dict[str, Any]]) -> None:
    commands = {
        where: spec["containers"][0]["command"] for where, spec in _pod_specs(manifests).items()
    }
    assert commands == {
        "Deployment/wa-sessions-api": ["python", "-m", "api"],
        "Deployment/wa-sessions-worker": ["python", "worker.py"],
        "Job/wa-sessions-migrate": ["python", "-m", "store.migrate"],
    }
    assert (ROOT / "store" / "migrate.py").read_text().rstrip().endswith("sys.exit(main())")


def test_the_migration_job(manifests: list[dict[str, Any]]) -> None:
    job = _one(manifests, "Job", "wa-sessions-migrate")
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_pods_run_as_the_images_user_read_only(manifests: list[dict[str, Any]]) -> None:
    for where, spec in _pod_specs(manifests).items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] == pod["runAsGroup"] == IMAGE_UID, where
        assert spec["automountServiceAccountToken"] is False, where
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert container["resources"]["requests"], where
            assert container["resources"]["limits"]["memory"], where
            assert container["image"] == "wa-sessions", where
    assert f"--uid {IMAGE_UID}" in (ROOT / "Dockerfile").read_text()


def test_one_image_set_by_kustomize(kustomization: dict[str, Any]) -> None:
    (image,) = kustomization["images"]
    assert image["name"] == "wa-sessions"
    assert image["newName"].startswith("ghcr.io/")


def _routed(path: str, rules: list[dict[str, Any]]) -> bool:
    for rule in rules:
        prefix = rule["path"].rstrip("/")
        if rule["pathType"] == "Exact" and path == rule["path"]:
            return True
        if rule["pathType"] == "Prefix" and (path == prefix or path.startswith(prefix + "/")):
            return True
    return False


def _app_paths() -> set[str]:
    """Every path the production app answers: its OpenAPI paths and the pages (not in it)."""
    secret = "x" * 32
    app = create_app(
        Settings(
            environment="production",
            api_token=secret,
            whatsapp_app_secret=secret,
            whatsapp_verify_token=secret,
            conversation_key_secret=secret,
        )
    )
    paths = {*app.openapi()["paths"], "/openapi.json"}
    paths |= {str(route.path) for route in pages_router.routes if hasattr(route, "path")}
    # A parameter is one segment: "/v1/accounts/{account_id}" is routed as "/v1/accounts/x".
    return {path.replace("{", "x").replace("}", "") for path in paths}


def test_the_ingress_serves_the_api_over_tls_without_internal_routes(
    manifests: list[dict[str, Any]],
) -> None:
    ingress = _one(manifests, "Ingress", "wa-sessions-api")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    (rule,) = ingress["spec"]["rules"]
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == [rule["host"]]
    assert tls["secretName"]
    paths = rule["http"]["paths"]
    for path in paths:
        assert path["backend"] == {"service": {"name": "wa-sessions-api", "port": {"name": "http"}}}
    _one(manifests, "Service", "wa-sessions-api")

    app_paths = _app_paths()
    assert INTERNAL_PATHS | {"/webhooks/whatsapp", "/sessions", "/static/pages/xname"} <= app_paths
    unrouted = {path for path in app_paths - INTERNAL_PATHS if not _routed(path, paths)}
    assert unrouted == set(), "public routes the Ingress does not send to the API"
    assert not any(_routed(path, paths) for path in INTERNAL_PATHS)
