"""Named overrides of one host's rendered files, to measure what a setting costs or buys.

A variant takes the rendered files (name -> text) and returns a changed copy; the runner starts a
second harness stack from that copy and measures it interleaved with the unchanged one, so before
and after see the same machine noise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from tools.bench.targets import DIRECT, ENVOY

Rendered = Mapping[str, str]
# Envoy's default worker count is the number of hardware threads: 2 on the t3.medium host.
DEFAULT_ENVOY_CONCURRENCY = 2


@dataclass(frozen=True)
class Variant:
    name: str
    file: str  # the rendered file it changes
    setting: str  # what it sets, as a reader would write it in the template
    targets: frozenset[str]  # which measured paths the setting can affect
    change: Callable[[dict[str, Any]], None]  # edits the parsed file in place

    def apply(self, rendered: Rendered) -> dict[str, str]:
        files = dict(rendered)
        text = files[self.file]
        if self.file.endswith(".json"):
            document = json.loads(text)
            self.change(document)
            files[self.file] = json.dumps(document, indent=2) + "\n"
        else:
            document = yaml.safe_load(text)
            self.change(document)
            files[self.file] = yaml.safe_dump(document, sort_keys=False)
        return files

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "file": self.file, "setting": self.setting, "targets": sorted(self.targets)}


def _envoy_listeners(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["static_resources"]["listeners"]


def _envoy_clusters(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["static_resources"]["clusters"]


def buffer_limit(limit: int) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        for item in (*_envoy_listeners(doc), *_envoy_clusters(doc)):
            item["per_connection_buffer_limit_bytes"] = limit

    return change


def _tls_maximum(version: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        for listener in _envoy_listeners(doc):
            # The TLS listeners only (the metrics listener is plain HTTP on the host's loopback).
            for chain in (c for c in listener["filter_chains"] if "transport_socket" in c):
                params = chain["transport_socket"]["typed_config"]["common_tls_context"].setdefault("tls_params", {})
                params["tls_maximum_protocol_version"] = version

    return change


def _envoy_concurrency(workers: int) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["services"]["envoy"]["command"] = [*doc["services"]["envoy"]["command"], "--concurrency", str(workers)]

    return change


def _orthanc(path: str, value: Any, *, new_key: bool = False) -> Callable[[dict[str, Any]], None]:
    """Set `path` in orthanc.json; refuse to add a key unless the variant says it adds one."""

    def change(doc: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        if (leaf in node) == new_key:
            state = "already has" if new_key else "has no"
            raise KeyError(f"orthanc.json {state} {path}: the variant no longer means what it says")
        node[leaf] = value

    return change


ENVOY_ONLY = frozenset({ENVOY})
BOTH = frozenset({ENVOY, DIRECT})

VARIANTS: tuple[Variant, ...] = (
    Variant(
        "envoy-buffer-32k",
        "envoy.yaml",
        "per_connection_buffer_limit_bytes: 32768 on both listeners and clusters (ours: unset = 1 MiB)",
        ENVOY_ONLY,
        buffer_limit(32 * 1024),
    ),
    Variant(
        "envoy-buffer-4m",
        "envoy.yaml",
        "per_connection_buffer_limit_bytes: 4194304 on both listeners and clusters (ours: unset = 1 MiB)",
        ENVOY_ONLY,
        buffer_limit(4 * 1024 * 1024),
    ),
    Variant(
        "envoy-concurrency-1",
        "docker-compose.yml",
        "envoy command + --concurrency 1 (ours: unset = one worker per vCPU, 2)",
        ENVOY_ONLY,
        _envoy_concurrency(1),
    ),
    Variant(
        "envoy-tls12-max",
        "envoy.yaml",
        "tls_maximum_protocol_version: TLSv1_2 on both listeners (ours: unset = TLS 1.3 allowed)",
        ENVOY_ONLY,
        _tls_maximum("TLSv1_2"),
    ),
    Variant(
        "index-connections-1",
        "orthanc.json",
        "PostgreSQL.IndexConnectionsCount: 1 (the plugin's default; ours: sized to RDS, capped at 5)",
        BOTH,
        _orthanc("PostgreSQL.IndexConnectionsCount", 1),
    ),
    Variant(
        "index-connections-25",
        "orthanc.json",
        "PostgreSQL.IndexConnectionsCount: 25 (before the cap at 5: what db.t4g.small's budget allows)",
        BOTH,
        _orthanc("PostgreSQL.IndexConnectionsCount", 25),
    ),
    Variant(
        "dicom-threads-8",
        "orthanc.json",
        "DicomThreadsCount: 8 (ours: unset = Orthanc's default, 4)",
        BOTH,
        _orthanc("DicomThreadsCount", 8, new_key=True),
    ),
    Variant(
        "no-lua-filter",
        "orthanc.json",
        "LuaScripts: [] (drops the health account's request filter: prices that safeguard, not a change to make)",
        BOTH,
        _orthanc("LuaScripts", []),
    ),
    Variant(
        "storage-compression",
        "orthanc.json",
        "StorageCompression: true (ours: false)",
        frozenset({DIRECT}),
        _orthanc("StorageCompression", True),
    ),
)


# One per kind of file a variant edits, so a quick run exercises the mechanism end to end.
QUICK_VARIANTS = ("envoy-buffer-32k", "envoy-concurrency-1", "index-connections-1")


def by_name(names: Sequence[str] | None) -> tuple[Variant, ...]:
    """The variants to run: all when `names` is None, else exactly those (unknown names refused)."""
    if names is None:
        return VARIANTS
    known = {v.name: v for v in VARIANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(known[n] for n in names)


def envoy_concurrency(rendered: Rendered) -> int:
    """Envoy's --concurrency from the rendered compose command (the host's default when unset)."""
    command = [str(part) for part in yaml.safe_load(rendered["docker-compose.yml"])["services"]["envoy"]["command"]]
    if "--concurrency" in command:
        return int(command[command.index("--concurrency") + 1])
    return DEFAULT_ENVOY_CONCURRENCY
