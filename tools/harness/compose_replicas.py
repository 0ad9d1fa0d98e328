"""What `docker compose up orthanc-i` does on a host, done by hand for the harness.

From the rendered docker-compose.yml: each service's environment (compose's variables
substituted), its secrets (`/run/secrets/<name>`) and its bind mounts; from those and the rendered
orthanc.json, one Orthanc replica's configuration, merged the way the Orthanc image does.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orthweb.host.context import HOST_ID_VARIABLE
from tools.harness.image_plugins import harness_plugins
from tools.harness.orthanc import ORTHANC_USER, OrthancReplica, replica_config
from tools.harness.processes import HarnessError
from tools.harness.secrets import SETTING_FILE, settings_from_env, settings_from_secret_files
from tools.harness.variables import substitute

SECRETS_MOUNT = "/run/secrets/"

# Keys of the rendered orthanc.json that Debian's Orthanc 1.10.1 and its plugins (PostgreSQL 4.0,
# DICOMweb 1.7; no OHIF, no Stone) do not know (Orthanc ignores unknown keys silently; dropped so
# the harness config is honest).
UNSUPPORTED_BY_DEBIAN: tuple[str, ...] = (
    "PostgreSQL.EnableVerboseLogs",
    "KeepAliveTimeout",
    "DicomWeb.EnableMetadataCache",
    "OHIF",
    "StoneWebViewer",
)


def compose_services(rendered: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    return yaml.safe_load(rendered["docker-compose.yml"]).get("services", {})


def service_environment(service: Mapping[str, Any], variables: Mapping[str, str] | None = None) -> dict[str, str]:
    """A service's environment, with compose's variables substituted (a group host's .env)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): substitute(str(v), variables or {}) for k, v in env.items()}


def service_files(service: Mapping[str, Any], rendered_dir: Path, secrets_dir: Path, app_dir: str) -> dict[str, Path]:
    """Container path -> local file, from the service's secrets and its bind mounts of app files."""
    files = {f"{SECRETS_MOUNT}{name}": secrets_dir / name for name in service.get("secrets", [])}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith(app_dir + "/"):
            files[target] = rendered_dir / source.removeprefix(app_dir + "/")
    return files


def local_path(value: str, mounts: Mapping[str, Path]) -> str:
    """A container path inside a mounted directory -> the same file in the local directory."""
    for target, local in mounts.items():
        if value == target or value.startswith(target + "/"):
            return str(local) + value.removeprefix(target)
    return value


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """How the Orthanc image folds environment/secret settings into the JSON configuration."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass(frozen=True)
class ComposeReplicas:
    """Replica `index` as compose creates it now: the secret files and mounts of this moment."""

    rendered: Mapping[str, str]
    work_dir: Path
    rendered_dir: Path
    secrets_dir: Path
    # Stands for DRAIN_DIR on the host (start.sh --rolling marks replicas there).
    drain_dir: Path
    # What start.sh writes to .env on a group host (its instance id).
    host_id: str
    # Another host's storage (two hosts of the scale-out group share it); None: this stack's own.
    shared_storage_dir: Path | None = None

    @property
    def storage_dir(self) -> Path:
        return self.shared_storage_dir or self.work_dir / "storage"

    def replica(self, index: int, http_port: int, dicom_port: int) -> OrthancReplica:
        from orthweb.host.layout import APP_DIR

        service = compose_services(self.rendered)[f"orthanc-{index}"]
        environment = service_environment(service, {HOST_ID_VARIABLE: self.host_id})
        files = service_files(service, self.rendered_dir, self.secrets_dir, APP_DIR)
        mounts = self._directory_mounts(service)
        config = deep_merge(json.loads(self.rendered["orthanc.json"]), settings_from_env(environment))
        config = deep_merge(config, settings_from_secret_files(self.secrets_dir, list(service.get("secrets", []))))
        directory = self.work_dir / f"orthanc-{index}"
        overlay = {
            "Name": f"orthanc-{index}",
            "HttpPort": http_port,
            "DicomPort": dicom_port,
            "Plugins": harness_plugins(environment, config),
            "StorageDirectory": str(self.storage_dir),
            "LuaScripts": [str(_copy_for_orthanc(files, path, directory)) for path in config.get("LuaScripts", [])],
        }
        return OrthancReplica(
            index=index,
            directory=directory,
            config=replica_config(config, overlay=overlay, unsupported=UNSUPPORTED_BY_DEBIAN),
            env={k: local_path(v, mounts) for k, v in environment.items() if not SETTING_FILE.match(k)},
            http_port=http_port,
            dicom_port=dicom_port,
        )

    def _directory_mounts(self, service: Mapping[str, Any]) -> dict[str, Path]:
        """Container directory -> local directory, for the service's mounts of host directories."""
        from orthweb.host.layout import DRAIN_DIR

        mounts: dict[str, Path] = {}
        for volume in service.get("volumes", []):
            source, target = str(volume).split(":")[:2]
            if source.startswith(DRAIN_DIR + "/"):
                local = self.drain_dir / source.removeprefix(DRAIN_DIR + "/")
                local.mkdir(parents=True, exist_ok=True)
                mounts[target] = local
        return mounts


def _copy_for_orthanc(files: Mapping[str, Path], container_path: str, directory: Path) -> Path:
    """Orthanc runs as a non-root user here: give it its own copy of a mounted file."""
    if container_path not in files:
        raise HarnessError(f"orthanc.json reads {container_path}, which compose does not mount")
    directory.mkdir(parents=True, exist_ok=True)
    shutil.chown(directory, ORTHANC_USER, ORTHANC_USER)
    target = directory / Path(container_path).name
    shutil.copyfile(files[container_path], target)
    target.chmod(0o400)
    shutil.chown(target, ORTHANC_USER, ORTHANC_USER)
    return target
