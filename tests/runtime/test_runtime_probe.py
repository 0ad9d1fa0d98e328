"""Each replica's docker health probe, as rendered, against a real Orthanc of the session stack.

The probe is what `docker compose up --wait` (rolling restarts) and `orthweb verify` rely on. It runs
inside the orthancteam/orthanc image, which has bash but neither curl nor wget (orthanc-builder's
Dockerfile.runner-base installs python3 and libraries only): a GET /changes?last over bash's
/dev/tcp, with the admin's Authorization header from the secret file fetch-secrets.sh wrote.
Compose turns `$$` into `$` (Compose file reference, "Interpolation").
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tools.harness import Stack
from tools.harness.processes import free_port

CONTAINER_ADDRESS = "127.0.0.1/8042"
CONTAINER_SECRETS = "/run/secrets/"


def probe_script(rendered: dict[str, str]) -> str:
    """The replicas' healthcheck command after compose's interpolation (all replicas share it)."""
    services = yaml.safe_load(rendered["docker-compose.yml"])["services"]
    tests = {tuple(s["healthcheck"]["test"]) for name, s in services.items() if name.startswith("orthanc-")}
    ((kind, shell, flag, script),) = tests
    assert (kind, shell, flag) == ("CMD", "bash", "-c")
    return script.replace("$$", "$")


def run_probe(script: str, port: int, secrets_dir: Path) -> int:
    local = script.replace(CONTAINER_ADDRESS, f"127.0.0.1/{port}").replace(CONTAINER_SECRETS, f"{secrets_dir}/")
    return subprocess.run(["bash", "-c", local], capture_output=True, timeout=10, check=False).returncode


def test_the_probe_passes_on_a_serving_replica(stack: Stack, rendered: dict[str, str]) -> None:
    script = probe_script(rendered)
    assert CONTAINER_ADDRESS in script and f"{CONTAINER_SECRETS}orthweb-probe-authorization" in script
    for replica in stack.replicas:
        assert run_probe(script, replica.http_port, stack.secrets_dir) == 0, replica.name


def test_the_probe_fails_without_the_admin_credential_or_without_orthanc(
    stack: Stack, rendered: dict[str, str], tmp_path: Path
) -> None:
    script = probe_script(rendered)
    (tmp_path / "orthweb-probe-authorization").write_text(stack.health.header.replace("Basic ", "Basic x"))
    assert run_probe(script, stack.replica(1).http_port, tmp_path) != 0, "Orthanc refuses a wrong credential"
    assert run_probe(script, free_port(), stack.secrets_dir) != 0, "nothing listens there"
