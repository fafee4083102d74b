"""deploy/: the Kubernetes manifests are valid against the Kubernetes schemas (offline, the
kubernetes-validate package), the nginx configuration loads in Debian's nginx, and the
compose file, the manifests and the app agree with each other."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes the manifests are written for


def manifests() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return out


def test_kubernetes_manifests_are_valid():
    import kubernetes_validate

    docs = manifests()
    kinds = {doc["kind"] for _, doc in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "Job", "ConfigMap"} <= kinds
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {exc.message} at {list(exc.path)}")


def test_kubernetes_probes_and_selectors_match():
    from server.config import Settings
    from server.main import create_app

    paths = set(create_app(Settings()).openapi()["paths"])
    docs = dict(manifests())
    api = docs["30-api.yaml:Deployment/proctor-api"]["spec"]
    container = api["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in paths, probe
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    labels = api["template"]["metadata"]["labels"]
    for name in ("30-api.yaml:PodDisruptionBudget/proctor-api", "30-api.yaml:Service/proctor-api"):
        spec = docs[name]["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        assert selector.items() <= labels.items(), name
    assert (
        docs["30-api.yaml:PodDisruptionBudget/proctor-api"]["spec"]["minAvailable"]
        < api["replicas"]
    )
    # the balancer in Kubernetes runs the very nginx.conf of deploy/nginx
    nginx_cm = docs["50-nginx.yaml:ConfigMap/proctor-nginx"]["data"]
    assert nginx_cm["nginx.conf"] == (DEPLOY / "nginx" / "nginx.conf").read_text()
    assert "hash $proctor_key consistent" in nginx_cm["upstream.conf"]


def test_compose_replicas_are_the_nginx_upstreams():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    apis = sorted(s for s in services if s.startswith("api-"))
    assert len(apis) == 3
    upstream = (DEPLOY / "nginx" / "upstream.conf").read_text()
    for name in apis:
        assert f"server {name}:5001" in upstream
        assert services[name]["command"][1:3] == ["serve", "--host"]
        env = services[name]["environment"]
        assert env["PROCTOR_VIDEO_JOBS_CONCURRENCY"] == "0"
        assert env["PROCTOR_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert services["worker"]["command"][1] == "worker"
    assert services["migrate"]["command"][1:] == ["db", "upgrade"]
    gpu = yaml.safe_load((DEPLOY / "docker-compose.gpu.yml").read_text())
    assert set(apis) | {"worker"} <= set(gpu["services"])


def test_nginx_configuration_loads():
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).is_file():
        pytest.skip("no nginx (apt-get install nginx; `make test` installs it)")
    prefix = Path(tempfile.mkdtemp(prefix="proctor-nginx-"))
    try:
        shutil.copy(DEPLOY / "nginx" / "nginx.conf", prefix / "nginx.conf")
        (prefix / "upstream.conf").write_text(
            "upstream proctor_api { hash $proctor_key consistent; server 127.0.0.1:9; }\n"
        )
        r = subprocess.run(
            [nginx, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
