"""The Envoy variants of the whole-study bench change what they say in our envoy.yaml, and the
bench's C-MOVE destination is the one modality Orthanc knows, moved to this machine."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import yaml

from orthweb.host.render import render_host_files
from tests.runtime.conftest import HARNESS_MODALITY, runtime_context
from tools.bench.move import with_move_destination
from tools.bench.proxies import PROXY_VARIANTS, QUICK_PROXY_VARIANTS, REQUEST_FILTER, proxy_variants
from tools.bench.report import proxy_variant_lines


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_host_files(dataclasses.replace(runtime_context(), index_connections=5))


@pytest.fixture(scope="module")
def envoy(rendered: dict[str, str]) -> dict[str, object]:
    return yaml.safe_load(rendered["envoy.yaml"])


def _https(doc: dict) -> dict:
    (listener,) = [item for item in doc["static_resources"]["listeners"] if item["name"] == "https"]
    return listener["filter_chains"][0]


@pytest.mark.parametrize("variant", PROXY_VARIANTS, ids=lambda v: v.name)
def test_each_variant_changes_ours_as_it_says(variant, envoy: dict) -> None:
    doc = copy.deepcopy(envoy)
    variant.change(doc)
    manager = _https(doc)["filters"][0]["typed_config"]
    ours = _https(envoy)["filters"][0]["typed_config"]
    items = doc["static_resources"]["listeners"] + doc["static_resources"]["clusters"]
    checks = {
        "envoy-plain-http": lambda: "transport_socket" not in _https(doc) and "transport_socket" in _https(envoy),
        "envoy-buffer-32k": lambda: all(item.get("per_connection_buffer_limit_bytes") == 32768 for item in items),
        "envoy-buffer-4m": lambda: all(item.get("per_connection_buffer_limit_bytes") == 4 << 20 for item in items),
        "envoy-workers-1": lambda: doc == envoy and variant.workers == 1,
        "envoy-no-request-filter": lambda: (
            [f["name"] for f in manager["http_filters"]]
            == [f["name"] for f in ours["http_filters"] if f["name"] != REQUEST_FILTER]
            and len(manager["http_filters"]) < len(ours["http_filters"])
        ),
        "envoy-no-access-log": lambda: "access_log" not in manager and "access_log" in ours,
    }
    assert checks[variant.name](), variant.name
    assert variant.plain == (variant.name == "envoy-plain-http")


def test_variants_are_chosen_by_name() -> None:
    assert proxy_variants(None) == PROXY_VARIANTS
    assert [v.name for v in proxy_variants(QUICK_PROXY_VARIANTS)] == list(QUICK_PROXY_VARIANTS)
    with pytest.raises(ValueError, match=r"unknown proxy variant.*envoy-nope.*known: envoy-plain-http"):
        proxy_variants(("envoy-nope",))


def test_the_move_destination_is_the_known_modality_on_this_machine(rendered: dict[str, str]) -> None:
    moved = with_move_destination(rendered, 40123)
    ours, theirs = json.loads(rendered["orthanc.json"]), json.loads(moved["orthanc.json"])
    assert theirs["DicomModalities"][HARNESS_MODALITY.aet] == {
        **ours["DicomModalities"][HARNESS_MODALITY.aet],
        "Host": "127.0.0.1",
        "Port": 40123,
    }
    assert {k: v for k, v in theirs.items() if k != "DicomModalities"} == {
        k: v for k, v in ours.items() if k != "DicomModalities"
    }
    assert {name: text for name, text in moved.items() if name != "orthanc.json"} == {
        name: text for name, text in rendered.items() if name != "orthanc.json"
    }


def test_variant_lines_show_each_workloads_ratio() -> None:
    variants = [
        {
            "name": "envoy-plain-http",
            "setting": "no TLS",
            "comparisons": [{"workload": "WADO-RS study of 200", "mb_per_s": 150.0, "ratio": 1.52}],
        }
    ]
    lines = proxy_variant_lines(variants)
    row = next(line for line in lines if line.startswith("envoy-plain-http "))
    assert row.split()[-2:] == ["150.0", "1.52x"]
    assert "  envoy-plain-http: no TLS" in lines
    assert proxy_variant_lines([]) == []
