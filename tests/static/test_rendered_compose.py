"""docker-compose.yml: valid compose, secrets only as root-only files, never in the environment."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from orthweb.host.context import DICOMWEB_SWITCH, VIEWER_SWITCHES, HostAppContext
from orthweb.host.layout import DRAIN_DIR, SECRETS_DIR
from orthweb.shared import telemetry
from tests.static.static_checks import CheckFailed, compose_validate

# The only environment variables allowed in containers: none of them carries a secret.
ALLOWED_ENVIRONMENT = {"ENVOY_UID", "TCP_NODELAY", "ORTHANC__DATABASE_SERVER_IDENTIFIER", "ORTHWEB_DRAIN_MARKER"}

# ... and the image's switches of the DICOMweb and viewer plugins (test_rendered_dicomweb.py).
PLUGIN_SWITCHES = {DICOMWEB_SWITCH, *VIEWER_SWITCHES.values()}


@pytest.fixture(scope="module")
def compose(rendered: dict[str, str]) -> dict[str, Any]:
    return yaml.safe_load(rendered["docker-compose.yml"])


def test_docker_compose_accepts_the_file(rendered: dict[str, str], tmp_path: Path) -> None:
    compose_validate(rendered["docker-compose.yml"], tmp_path)


def test_an_unknown_option_is_caught(rendered: dict[str, str], tmp_path: Path) -> None:
    broken = rendered["docker-compose.yml"].replace("    read_only: true", "    readonly: true", 1)
    with pytest.raises(CheckFailed, match="readonly"):
        compose_validate(broken, tmp_path)


def test_services_are_envoy_and_named_replicas(compose: dict[str, Any], app_context: HostAppContext) -> None:
    services = compose["services"]
    assert set(services) == {"envoy", *app_context.replica_names}
    assert services["envoy"]["image"] == app_context.envoy_image
    metrics = f"127.0.0.1:{telemetry.METRICS_PORT}:{telemetry.METRICS_PORT}"  # the agent's scrape, loopback only
    assert services["envoy"]["ports"] == ["443:443", "11112:11112", metrics]
    for name in app_context.replica_names:
        replica = services[name]
        assert replica["image"] == app_context.orthanc_image
        assert "ports" not in replica  # only Envoy is reachable from outside
        assert replica["environment"]["TCP_NODELAY"] == "1"


def test_secrets_are_files_never_environment(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert "env_file" not in service, name
        assert set(service.get("environment", {})) <= ALLOWED_ENVIRONMENT | PLUGIN_SWITCHES, name
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    for name, secret in compose["secrets"].items():
        assert secret == {"file": f"{SECRETS_DIR}/{name}"}
    envoy = compose["services"]["envoy"]
    assert {"envoy.yaml", "site.crt", "site.key"} <= set(envoy["secrets"])
    assert envoy["command"][-1] == "/run/secrets/envoy.yaml"


def test_replicas_have_a_health_probe_and_a_drain_marker(compose: dict[str, Any], app_context: HostAppContext) -> None:
    """What start.sh --rolling relies on: `up --wait` waits for the probe (run against a real
    Orthanc in tests/runtime/test_runtime_probe.py), and the drain marker directory is the
    replica's own, read-only."""
    for name in app_context.replica_names:
        replica = compose["services"][name]
        assert replica["healthcheck"]["test"][:3] == ["CMD", "bash", "-c"]
        assert "orthweb-probe-authorization" in replica["secrets"]
        marker = replica["environment"]["ORTHWEB_DRAIN_MARKER"]
        mounts = {volume.split(":")[1]: volume for volume in replica["volumes"]}
        mount = str(PurePosixPath(marker).parent)
        assert mounts[mount] == f"{DRAIN_DIR}/{name}:{mount}:ro"
