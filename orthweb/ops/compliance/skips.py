"""The reviewed skips file (skips.yaml): which checkov findings are accepted, where, and why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orthweb.shared.constants import ENVIRONMENTS, TLS_AT_ENVOY, TLS_ENDS, TOPOLOGIES
from orthweb.shared.modalities import AE_TITLE, CALLER_CHECKS
from orthweb.shared.sso import AUTHENTICATION_MODES, BASIC

SKIPS_FILE = Path(__file__).with_name("skips.yaml")
CHECK_ID = re.compile(r"CKV2?_[A-Z0-9]+_\d+")
ADDRESS = re.compile(r"[a-z0-9_]+\.[A-Za-z_][A-Za-z0-9_-]*")


class SkipsFileError(ValueError):
    """The skips file is malformed; the message names the entry and the problem."""


@dataclass(frozen=True)
class Skip:
    id: str
    resources: tuple[str, ...]
    reason: str
    environments: tuple[str, ...] = ENVIRONMENTS
    # The resources of one topology do not exist in the other: its skips neither apply nor go unused.
    topologies: tuple[str, ...] = TOPOLOGIES
    # Likewise the sign-in resources exist only with `authentication: sso`.
    authentications: tuple[str, ...] = AUTHENTICATION_MODES
    # Where clients' TLS ends (what the load balancer's listeners are and log).
    tls_ends_at: tuple[str, ...] = TLS_ENDS
    # The modalities' client certificates exist only with `dicomClientCertificates: true`.
    callers: tuple[str, ...] = CALLER_CHECKS

    def applies(
        self,
        check_id: str,
        resource: str,
        environment: str,
        topology: str,
        authentication: str = BASIC,
        tls_end: str = TLS_AT_ENVOY,
        callers: str = AE_TITLE,
    ) -> bool:
        return (
            check_id == self.id
            and resource in self.resources
            and self.expected(environment, topology, authentication, tls_end, callers)
        )

    def expected(
        self,
        environment: str,
        topology: str,
        authentication: str = BASIC,
        tls_end: str = TLS_AT_ENVOY,
        callers: str = AE_TITLE,
    ) -> bool:
        """Whether this entry must match a failure in a stack of this environment, topology, sign-in,
        TLS end and way of telling DICOM callers apart."""
        return (
            environment in self.environments
            and topology in self.topologies
            and authentication in self.authentications
            and tls_end in self.tls_ends_at
            and callers in self.callers
        )


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SkipsFileError(f"{path}: {error}") from None
    entries = document.get("skips") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SkipsFileError(f"{path}: expected a top-level `skips:` list")
    skips = [_skip(path, index, entry) for index, entry in enumerate(entries)]
    seen: set[tuple[str, str]] = set()
    for skip in skips:
        for resource in skip.resources:
            if (skip.id, resource) in seen:
                raise SkipsFileError(f"{path}: {skip.id} is listed twice for {resource}")
            seen.add((skip.id, resource))
    return skips


def _skip(path: Path, index: int, entry: Any) -> Skip:
    where = f"{path}: skips[{index}]"
    if not isinstance(entry, dict):
        raise SkipsFileError(f"{where}: expected a mapping with id, resources and reason")
    unknown = set(entry) - {"id", "resources", "reason", *_DIMENSIONS}
    if unknown:
        raise SkipsFileError(f"{where}: unknown keys {sorted(unknown)}")
    check_id = entry.get("id")
    if not isinstance(check_id, str) or not CHECK_ID.fullmatch(check_id):
        raise SkipsFileError(f"{where}: id must be a checkov check ID such as CKV_AWS_88, not {check_id!r}")
    resources = entry.get("resources")
    if (
        not isinstance(resources, list)
        or not resources
        or not all(isinstance(r, str) and ADDRESS.fullmatch(r) for r in resources)
    ):
        raise SkipsFileError(f"{where} ({check_id}): resources must be a non-empty list of Terraform addresses")
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
        raise SkipsFileError(f"{where} ({check_id}): reason must be one non-empty line")
    dimensions = {
        key: _drawn_from(entry, key, allowed, f"{where} ({check_id})") for key, allowed in _DIMENSIONS.items()
    }
    return Skip(
        check_id,
        tuple(resources),
        reason.strip(),
        *dimensions.values(),
    )


# The keys that limit an entry to some stacks, in the order of Skip's fields, with their values.
_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "environments": ENVIRONMENTS,
    "topologies": TOPOLOGIES,
    "authentications": AUTHENTICATION_MODES,
    "tls_ends_at": TLS_ENDS,
    "callers": CALLER_CHECKS,
}


def _drawn_from(entry: dict[str, Any], key: str, allowed: tuple[str, ...], where: str) -> tuple[str, ...]:
    """The entry's list under `key` (all of `allowed` when absent), refused unless drawn from it."""
    values = entry.get(key, list(allowed))
    if not isinstance(values, list) or not values or not set(values) <= set(allowed):
        raise SkipsFileError(f"{where}: {key} must be a list drawn from {list(allowed)}")
    return tuple(values)
