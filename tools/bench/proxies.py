"""Envoy settings measured on whole studies: each one more Envoy in front of the same replicas.

A variant is our live envoy.yaml with one change (`Stack.start_variant_envoy`), on its own ports;
the whole-study rounds run it beside ours, so its ratio to ours compares runs that saw the same
machine. Some variants are diagnostics that price a part we keep (TLS, the request filter, the
access log), not changes to make.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.bench.targets import Target, envoy_target
from tools.bench.variants import buffer_limit
from tools.harness import Stack

HTTPS_LISTENER = "https"
REQUEST_FILTER = "orthweb.request"


def _https_chain(doc: dict[str, Any]) -> dict[str, Any]:
    (listener,) = [item for item in doc["static_resources"]["listeners"] if item["name"] == HTTPS_LISTENER]
    return listener["filter_chains"][0]


def _connection_manager(doc: dict[str, Any]) -> dict[str, Any]:
    return _https_chain(doc)["filters"][0]["typed_config"]


def _without_tls(doc: dict[str, Any]) -> None:
    del _https_chain(doc)["transport_socket"]


def _without_request_filter(doc: dict[str, Any]) -> None:
    manager = _connection_manager(doc)
    manager["http_filters"] = [f for f in manager["http_filters"] if f["name"] != REQUEST_FILTER]


def _without_access_log(doc: dict[str, Any]) -> None:
    del _connection_manager(doc)["access_log"]


def _unchanged(doc: dict[str, Any]) -> None:
    del doc  # the worker count is Envoy's command line, not its file


@dataclass(frozen=True)
class ProxyVariant:
    name: str
    setting: str  # what it changes, as a reader would write it
    change: Callable[[dict[str, Any]], None]  # edits the live envoy.yaml in place
    workers: int | None = None  # Envoy's --concurrency (None: ours)
    plain: bool = False  # the client speaks plain HTTP to its HTTPS port

    def start(self, stack: Stack) -> Target:
        """Launch it in front of `stack`'s replicas; where the bench reaches it (HTTP only)."""

        def edited(doc: dict[str, Any]) -> dict[str, Any]:
            self.change(doc)
            return doc

        port = stack.start_variant_envoy(self.name, edited, concurrency=self.workers)
        ours = envoy_target(stack)
        return dataclasses.replace(ours, name=self.name, http_port=port, tls=None if self.plain else ours.tls)

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "setting": self.setting}


PROXY_VARIANTS: tuple[ProxyVariant, ...] = (
    ProxyVariant(
        "envoy-plain-http",
        "the HTTPS listener without TLS (plain HTTP from the client): the proxy's cost without encryption; "
        "a diagnostic, not a change to make",
        _without_tls,
        plain=True,
    ),
    ProxyVariant(
        "envoy-buffer-32k",
        "per_connection_buffer_limit_bytes: 32768 on listeners and clusters (ours: unset = 1 MiB)",
        buffer_limit(32 * 1024),
    ),
    ProxyVariant(
        "envoy-buffer-4m",
        "per_connection_buffer_limit_bytes: 4194304 on listeners and clusters (ours: unset = 1 MiB)",
        buffer_limit(4 * 1024 * 1024),
    ),
    ProxyVariant("envoy-workers-1", "--concurrency 1 (ours: one worker per vCPU, 2)", _unchanged, workers=1),
    ProxyVariant(
        "envoy-no-request-filter",
        f"without the {REQUEST_FILTER} Lua filter: prices it; not a change to make",
        _without_request_filter,
    ),
    ProxyVariant(
        "envoy-no-access-log",
        "without the HTTPS access log: prices it; not a change to make (the audit trail reads it)",
        _without_access_log,
    ),
)
QUICK_PROXY_VARIANTS = ("envoy-plain-http",)


def proxy_variants(names: tuple[str, ...] | None) -> tuple[ProxyVariant, ...]:
    """All of them (None), or exactly those named; an unknown name is refused."""
    if names is None:
        return PROXY_VARIANTS
    known = {v.name: v for v in PROXY_VARIANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown proxy variant(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(known[n] for n in names)
