"""Orthanc replicas from Debian's packages, configured by the rendered orthanc.json + a small overlay."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.harness.processes import LOOPBACK, HarnessError, ManagedProcess, port_open

ORTHANC_BINARY = Path("/usr/sbin/Orthanc")
ORTHANC_USER = "orthanc"  # Debian's package user; not root, so it needs its own HOME for the PostgreSQL client
START_TIMEOUT = 60.0

# Every key the harness changes in the rendered orthanc.json, and why. Nothing else is touched.
OVERLAY_KEYS: Mapping[str, str] = {
    "Name": "per replica (orthanc-i), so /system tells which replica answered",
    "HttpPort": "a free local port instead of 8042 on the compose network",
    "DicomPort": "a free local port instead of 4242 on the compose network",
    "Plugins": "Debian's PostgreSQL index plugin, and its DICOMweb plugin when the image would load that",
    "StorageDirectory": "one directory shared by all replicas: Debian has no S3 plugin",
    "LuaScripts": "container paths -> the replica's own copies of the mounted files",
}


def debian_plugin(library: str, package: str) -> str:
    """The installed file of a Debian Orthanc plugin (`library` without `.so`, from `package`)."""
    found = sorted(Path("/usr/lib/orthanc").glob(f"{library}.so*"))
    if not found:
        raise HarnessError(f"{library} not found (apt-get install {package})")
    return str(found[0])


def set_dotted(config: dict[str, Any], dotted: str, value: Any) -> None:
    node = config
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def delete_dotted(config: dict[str, Any], dotted: str) -> bool:
    node: Any = config
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and leaf in node:
        del node[leaf]
        return True
    return False


def replica_config(
    rendered: Mapping[str, Any],
    *,
    overlay: Mapping[str, Any],
    unsupported: Sequence[str],
) -> dict[str, Any]:
    unknown = set(overlay) - set(OVERLAY_KEYS)
    if unknown:
        raise HarnessError(f"overlay keys not declared in OVERLAY_KEYS: {sorted(unknown)}")
    config = copy.deepcopy(dict(rendered))
    for dotted in unsupported:
        delete_dotted(config, dotted)
    for dotted, value in overlay.items():
        set_dotted(config, dotted, value)
    return config


@dataclass
class OrthancReplica:
    index: int
    directory: Path
    config: dict[str, Any]
    env: Mapping[str, str]
    http_port: int
    dicom_port: int
    process: ManagedProcess | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return f"orthanc-{self.index}"

    @property
    def log(self) -> Path:
        return self.directory / "orthanc.log"

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.directory, ORTHANC_USER, ORTHANC_USER)
        path = self.directory / "orthanc.json"
        path.write_text(json.dumps(self.config, indent=2))
        path.chmod(0o400)
        shutil.chown(path, ORTHANC_USER, ORTHANC_USER)

    def launch(self) -> None:
        """Start without waiting (replicas start in parallel); see wait_ready()."""
        if self.process is not None and self.process.alive():
            raise HarnessError(f"{self.name} is already running")
        if not ORTHANC_BINARY.is_file():
            raise HarnessError(f"{ORTHANC_BINARY} is missing: apt-get install orthanc")
        env = {
            "HOME": str(self.directory),
            "PATH": "/usr/sbin:/usr/bin:/bin",
            "TCP_NODELAY": "1",  # else every C-STORE response waits for Nagle
            **self.env,
        }
        self.process = ManagedProcess(
            self.name,
            [str(ORTHANC_BINARY), str(self.directory / "orthanc.json")],
            self.log,
            env=env,
            user=ORTHANC_USER,
        ).start()

    def wait_ready(self) -> float:
        if self.process is None:
            raise HarnessError(f"{self.name} was never launched")
        return self.process.wait_ready(lambda: port_open(self.http_port) and port_open(self.dicom_port), START_TIMEOUT)

    def start(self) -> float:
        self.launch()
        return self.wait_ready()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()


def postgres_plugin() -> str:
    return debian_plugin("libOrthancPostgreSQLIndex", "orthanc-postgresql")
