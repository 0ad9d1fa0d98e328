"""Variants change exactly the one setting they name, in the one file they name."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from orthweb.host.render import render_host_files
from orthweb.shared.telemetry import METRICS_PORT
from tests.runtime.conftest import runtime_context
from tools.bench.variants import (
    DEFAULT_ENVOY_CONCURRENCY,
    QUICK_VARIANTS,
    VARIANTS,
    by_name,
    envoy_concurrency,
)
from tools.harness.envoy import rewire


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    # As on the dev stack: IndexConnectionsCount sized to RDS (25), not the runtime tests' 5.
    return render_host_files(dataclasses.replace(runtime_context(), index_connections=5))


def _parsed(name: str, text: str) -> object:
    if name.endswith(".json"):
        return json.loads(text)
    if name.endswith((".yaml", ".yml")):
        return yaml.safe_load(text)
    return text


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_a_variant_changes_its_file_only(variant, rendered: dict[str, str]) -> None:
    changed = variant.apply(rendered)
    assert set(changed) == set(rendered)
    different = [name for name in rendered if _parsed(name, changed[name]) != _parsed(name, rendered[name])]
    assert different == [variant.file]
    assert variant.setting and variant.targets


def test_buffer_limit_is_set_on_every_listener_and_cluster(rendered: dict[str, str]) -> None:
    (variant,) = by_name(["envoy-buffer-32k"])
    doc = yaml.safe_load(variant.apply(rendered)["envoy.yaml"])
    resources = doc["static_resources"]
    items = resources["listeners"] + resources["clusters"]
    assert items and all(item["per_connection_buffer_limit_bytes"] == 32768 for item in items)
    assert "per_connection_buffer_limit_bytes" not in rendered["envoy.yaml"]


def test_changed_envoy_config_still_rewires_for_the_harness(rendered: dict[str, str]) -> None:
    from tools.harness.envoy import ReplicaPorts

    for variant in VARIANTS:
        if variant.file != "envoy.yaml":
            continue
        doc = yaml.safe_load(variant.apply(rendered)["envoy.yaml"])
        rewire(
            doc,
            replicas={i: ReplicaPorts(8000 + i, 9000 + i) for i in range(1, 4)},
            listener_ports={443: 10443, 11112: 11112, METRICS_PORT: 19902},
            admin_port=9901,
            files={"/run/secrets/site.crt": __file__, "/run/secrets/site.key": __file__},  # type: ignore[dict-item]
        )


def test_envoy_concurrency_comes_from_the_compose_command(rendered: dict[str, str]) -> None:
    assert envoy_concurrency(rendered) == DEFAULT_ENVOY_CONCURRENCY
    (variant,) = by_name(["envoy-concurrency-1"])
    assert envoy_concurrency(variant.apply(rendered)) == 1


def test_orthanc_variants_refuse_to_drift(rendered: dict[str, str]) -> None:
    (threads,) = by_name(["dicom-threads-8"])
    assert json.loads(threads.apply(rendered)["orthanc.json"])["DicomThreadsCount"] == 8
    with_key = dict(rendered)
    with_key["orthanc.json"] = json.dumps({**json.loads(rendered["orthanc.json"]), "DicomThreadsCount": 4})
    with pytest.raises(KeyError, match="already has"):
        threads.apply(with_key)
    (compression,) = by_name(["storage-compression"])
    without = dict(rendered)
    without["orthanc.json"] = json.dumps(
        {k: v for k, v in json.loads(rendered["orthanc.json"]).items() if k != "StorageCompression"}
    )
    with pytest.raises(KeyError, match="has no"):
        compression.apply(without)


def test_variant_selection() -> None:
    assert by_name(None) == VARIANTS
    assert [v.name for v in by_name(list(QUICK_VARIANTS))] == list(QUICK_VARIANTS)
    assert len({v.file for v in by_name(list(QUICK_VARIANTS))}) == len(QUICK_VARIANTS)
    assert len({v.name for v in VARIANTS}) == len(VARIANTS)
    with pytest.raises(ValueError, match="unknown variant"):
        by_name(["no-such-variant"])
