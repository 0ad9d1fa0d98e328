"""The access rules of orthweb.shared.access are enforced twice, by Envoy and by Orthanc's Lua filter;
these variants of the live Envoy configuration take Envoy's layer out, so a test can show
Orthanc's filter refusing on its own.

Taken out: the request checks (the `orthweb.request` filter), the role table (the RBAC filter
with the roles' grants), the route answering registrations itself, and every rewriting of the
path (no normalisation, no merged slashes, escaped slashes passed on, header names with
underscores passed on). Kept: sign-in itself (the session, the token check, the check that the
token is an access token of one of the stack's clients) and the filter that gives Orthanc the
internal credential and names the verified token's role, since that is identity, not a rule.
"""

from __future__ import annotations

import copy
from typing import Any

REQUEST_CHECKS = "orthweb.request"
ROLE_TABLE = "envoy.filters.http.rbac"


def _https_manager(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = [x for x in config["static_resources"]["listeners"] if x["name"] == "https"]
    (chain,) = listener["filter_chains"]
    return chain["filters"][0]["typed_config"]


def without_envoy_rules(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of the live Envoy config with Envoy's access rules taken out (see the module)."""
    changed = copy.deepcopy(config)
    manager = _https_manager(changed)
    manager["http_filters"] = [f for f in manager["http_filters"] if f["name"] not in (REQUEST_CHECKS, ROLE_TABLE)]
    manager["normalize_path"] = False
    manager["merge_slashes"] = False
    manager["path_with_escaped_slashes_action"] = "KEEP_UNCHANGED"
    manager.setdefault("common_http_protocol_options", {})["headers_with_underscores_action"] = "ALLOW"
    for host in manager["route_config"]["virtual_hosts"]:
        host["routes"] = [route for route in host["routes"] if "direct_response" not in route]
    return changed


def envoy_rules_present(config: dict[str, Any]) -> set[str]:
    """Which of Envoy's access rules a config has (a variant must have none)."""
    manager = _https_manager(config)
    names = {f["name"] for f in manager["http_filters"]} & {REQUEST_CHECKS, ROLE_TABLE}
    if manager.get("normalize_path") or manager.get("merge_slashes"):
        names.add("path rewriting")
    if manager.get("path_with_escaped_slashes_action") == "REJECT_REQUEST":
        names.add("escaped slashes refused")
    routes = [r for h in manager["route_config"]["virtual_hosts"] for r in h["routes"]]
    if any("direct_response" in r for r in routes):
        names.add("answered routes")
    return names
