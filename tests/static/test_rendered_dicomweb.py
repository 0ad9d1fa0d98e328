"""DICOMweb and the viewers as rendered: each plugin switched on the way the orthancteam/orthanc image
documents it, configured for the site behind Envoy, and nothing switched on that was not asked for.

The viewers cannot run here (Debian packages neither OHIF nor Stone): these checks hold their
rendered configuration against the image's and the plugins' documented rules instead.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from typing import Any

import pytest
import yaml

from orthweb.host.context import HostAppContext
from orthweb.host.render import render_host_files
from orthweb.shared.constants import DICOMWEB_ROOT, OHIF, STONE, VIEWER_PATHS, WADO_URI_ROOT
from tests.static.static_checks import orthanc_unknown_keys
from tools.harness.image_plugins import image_plugins, plugin_switches

EVERY_CHOICE = [(True, (OHIF, STONE)), (True, (OHIF,)), (True, (STONE,)), (True, ()), (False, ())]
PLUGIN_OF_VIEWER = {OHIF: "Ohif", STONE: "StoneWebViewer"}


def rendered_for(app_context: HostAppContext, dicom_web: bool, viewers: tuple[str, ...]) -> dict[str, Any]:
    files = render_host_files(dataclasses.replace(app_context, dicom_web=dicom_web, viewers=viewers))
    return {
        "orthanc": json.loads(files["orthanc.json"]),
        "compose": yaml.safe_load(files["docker-compose.yml"]),
        "envoy": yaml.safe_load(files["envoy.yaml"]),
    }


@pytest.mark.parametrize(("dicom_web", "viewers"), EVERY_CHOICE)
def test_the_image_loads_exactly_the_plugins_asked_for(
    app_context: HostAppContext, dicom_web: bool, viewers: tuple[str, ...]
) -> None:
    files = rendered_for(app_context, dicom_web, viewers)
    expected = {"DicomWeb"} if dicom_web else set()
    expected |= {PLUGIN_OF_VIEWER[v] for v in viewers}
    for replica in app_context.replica_names:
        environment = files["compose"]["services"][replica]["environment"]
        assert image_plugins(environment, files["orthanc"]) == expected
    assert orthanc_unknown_keys(files["orthanc"]) == []


def test_every_switch_is_one_the_image_knows_and_says_true(rendered: dict[str, str]) -> None:
    switches = plugin_switches()
    compose = yaml.safe_load(rendered["docker-compose.yml"])
    for name, service in compose["services"].items():
        used = {k: v for k, v in service.get("environment", {}).items() if k.endswith("_PLUGIN_ENABLED")}
        if name == "envoy":
            assert used == {}
            continue
        assert set(used) == set(switches)  # defaults: DICOMweb and both viewers
        assert set(used.values()) == {"true"}


def test_the_image_rule_is_what_its_configurator_does() -> None:
    # Stone needs its switch; a DicomWeb section alone loads DICOMweb; "false" loads nothing.
    assert image_plugins({}, {"StoneWebViewer": {}}) == frozenset()
    assert image_plugins({}, {"DicomWeb": {"Enable": True}}) == {"DicomWeb"}
    assert image_plugins({"OHIF_PLUGIN_ENABLED": "false"}, {}) == frozenset()
    assert image_plugins({"STONE_WEB_VIEWER_PLUGIN_ENABLED": "yes"}, {}) == {"StoneWebViewer"}


def test_dicomweb_answers_for_the_site_not_for_a_fixed_host(rendered: dict[str, str]) -> None:
    dicomweb = json.loads(rendered["orthanc.json"])["DicomWeb"]
    assert dicomweb["Enable"] is True and dicomweb["EnableWado"] is True
    assert (dicomweb["Root"], dicomweb["WadoRoot"]) == (DICOMWEB_ROOT, WADO_URI_ROOT)
    # No fixed Host or PublicRoot: the plugin builds URLs from the forwarding headers Envoy sets.
    assert "Host" not in dicomweb and "PublicRoot" not in dicomweb
    assert dicomweb["Ssl"] is True  # should a request arrive without them: https, never http
    assert (dicomweb["StudiesMetadata"], dicomweb["SeriesMetadata"]) == ("Full", "Full")


def test_viewers_read_the_site_dicomweb_root(rendered: dict[str, str]) -> None:
    orthanc = json.loads(rendered["orthanc.json"])
    assert orthanc["OHIF"]["DataSource"] == "dicom-web"
    # Stone resolves its DicomWebRoot against the page it is served from.
    stone_root = orthanc["StoneWebViewer"]["DicomWebRoot"]
    assert posixpath.normpath(posixpath.join(VIEWER_PATHS[STONE], stone_root)) + "/" == DICOMWEB_ROOT
    # Orthanc Explorer 2 stays the UI at the site's root.
    assert orthanc["OrthancExplorer2"]["IsDefaultOrthancUI"] is True


def test_without_dicomweb_nothing_of_it_is_rendered(app_context: HostAppContext) -> None:
    files = rendered_for(app_context, False, ())
    # A DicomWeb section alone would make the image load the plugin.
    assert not {"DicomWeb", "OHIF", "StoneWebViewer"} & set(files["orthanc"])
    for replica in app_context.replica_names:
        environment = files["compose"]["services"][replica]["environment"]
        assert not [k for k in environment if k.endswith("_PLUGIN_ENABLED")]


def _https_routes(envoy: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (listener,) = [x for x in envoy["static_resources"]["listeners"] if x["name"] == "https"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    (virtual_host,) = manager["route_config"]["virtual_hosts"]
    return virtual_host, virtual_host["routes"]


def test_envoy_tells_orthanc_how_the_client_reached_the_site(rendered: dict[str, str]) -> None:
    virtual_host, _ = _https_routes(yaml.safe_load(rendered["envoy.yaml"]))
    added = {
        h["header"]["key"]: (h["header"]["value"], h["append_action"]) for h in virtual_host["request_headers_to_add"]
    }
    overwrite = "OVERWRITE_IF_EXISTS_OR_ADD"  # whatever a client sent is replaced
    assert added["X-Forwarded-Proto"] == ("https", overwrite)
    assert added["X-Forwarded-Host"] == ("%REQ(:authority)%", overwrite)
    assert added["Forwarded"] == ("proto=https;host=%REQ(:authority)%", overwrite)


def _first_route(routes: list[dict[str, Any]], path: str, method: str) -> dict[str, Any]:
    """The route Envoy picks for a request (the first whose prefix and method match)."""
    for route in routes:
        match = route["match"]
        methods = [h for h in match.get("headers", []) if h["name"] == ":method"]
        wanted = re.fullmatch(methods[0]["string_match"]["safe_regex"]["regex"], method) if methods else True
        if "prefix" in match and path.startswith(match["prefix"]) and wanted:
            return route
    raise AssertionError(f"no prefix route for {method} {path}")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_dicomweb_and_viewer_paths_get_the_same_route_as_the_ui(rendered: dict[str, str], method: str) -> None:
    _, routes = _https_routes(yaml.safe_load(rendered["envoy.yaml"]))
    ui = _first_route(routes, "/ui/app/", method)
    for path in (DICOMWEB_ROOT + "studies", WADO_URI_ROOT, *VIEWER_PATHS.values()):
        route = _first_route(routes, path, method)
        assert route is ui, path  # same TLS listener, authentication, affinity cookie and retries
    assert ui["route"]["cluster"] == "orthanc_http"
    assert ui["route"]["timeout"] == "0s"  # a whole study may take longer than any fixed limit
    assert ui["route"]["hash_policy"][0]["cookie"]["name"] == "orthweb-affinity"
