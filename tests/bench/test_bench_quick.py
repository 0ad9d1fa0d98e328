"""One quick bench run end to end (real servers): the JSON has every figure and the table prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.bench.proxies import QUICK_PROXY_VARIANTS
from tools.bench.runner import QUICK_SUITE
from tools.bench.variants import QUICK_VARIANTS

pytestmark = pytest.mark.runtime

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {"envoy-tls", "direct", "defaults"}


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and value > 0


def test_quick_settings_and_deploy(quick_run: tuple[dict[str, Any], str]) -> None:
    result, _ = quick_run
    assert result["settings"]["mode"] == "quick" and result["settings"]["runs"] == 1
    for name in ("dev", "prod", "anchor"):
        assert _positive(result["deploy"][name]["seconds"]) and result["deploy"][name]["critical_path"]
    assert set(result["deploy"]["ratios"]) == {"anchor/dev", "anchor/prod"}


@pytest.mark.parametrize("kind", ["dicom", "web"])
def test_every_cell_of_ours_is_measured_once(quick_run: tuple[dict[str, Any], str], kind: str) -> None:
    result, _ = quick_run
    level = "associations" if kind == "dicom" else "clients"
    ours = {(c["workload"], c[level], c["target"]) for c in result[kind]["cells"] if c["variant"] == "ours"}
    assert ours == {(w, n, t) for w in ("small", "large") for n in (1, 4) for t in TARGETS}
    throughput = "instances_per_s" if kind == "dicom" else "requests_per_s"
    for cell in result[kind]["cells"]:
        assert len(cell["runs"]) == 1
        assert _positive(cell["median"][throughput]) and _positive(cell["median"]["mb_per_s"])
    if kind == "web":
        assert all(c["median"]["p50_ms"] <= c["median"]["p99_ms"] for c in result["web"]["cells"])
    else:
        assert all(c["complete"] for c in result["dicom"]["cells"])
        assert result["dicom"]["workloads"]["large"]["bytes_each"] > 512 * 512 * 2
    names = {(r["name"], r["workload"], r["concurrency"]) for r in result[kind]["ratios"]}
    for name in ("envoy/direct", "ours/defaults"):
        assert {(name, w, n) for w in ("small", "large") for n in (1, 4)} <= names
    assert all(_positive(r["value"]) for r in result[kind]["ratios"])


def test_quick_variants_and_program(quick_run: tuple[dict[str, Any], str]) -> None:
    result, _ = quick_run
    assert [v["name"] for v in result["variants"]] == list(QUICK_VARIANTS)
    for variant in result["variants"]:
        assert variant["comparisons"] and variant["verdict"] in ("helps", "costs", "no clear effect")
        assert all(c["concurrency"] == 4 and _positive(c["ratio"]) for c in variant["comparisons"])
    program = result["program"]
    assert program["plan"]["exit_status"] == 0 and _positive(program["plan"]["peak_rss_mb"])
    assert program["suite"]["label"] == "pytest " + " ".join(QUICK_SUITE)


def test_whole_studies_run_through_envoy_direct_and_nginx(quick_run: tuple[dict[str, Any], str]) -> None:
    result, _ = quick_run
    studies = result["studies"]
    workloads = [row["workload"].split(" ")[0] for row in studies["rows"]]
    assert workloads == ["C-STORE", "C-STORE", "STOW-RS", "WADO-RS", "WADO-RS", "ZIP", "C-MOVE"]
    for row in studies["rows"]:
        for target in ("envoy-tls", "direct", "nginx-tls"):
            assert _positive(row[target]["mb_per_s"]) and _positive(row[target]["instances_per_s"]), row
        assert _positive(row["envoy/direct"]) and _positive(row["envoy/nginx-tls"]) and row["limit"]
    # Every read of a stored study started streaming: its first byte came before its last.
    assert all(_positive(row["envoy-tls"]["first_byte_s"]) for row in studies["rows"][3:6])
    # One Envoy variant beside ours on the same replicas, on the HTTP transfers it can change.
    assert [v["name"] for v in studies["variants"]] == list(QUICK_PROXY_VARIANTS)
    for variant in studies["variants"]:
        assert [c["workload"].split(" ")[0] for c in variant["comparisons"]] == ["STOW-RS", "WADO-RS", "WADO-RS"]
        assert all(_positive(c["mb_per_s"]) and _positive(c["ratio"]) for c in variant["comparisons"])
    memory = studies["peak_memory_mib"]
    assert {"envoy", "nginx workers", "orthanc-1", "orthanc-2", "orthanc-3"} <= set(memory)
    assert all(_positive(mib) for mib in memory.values())


def test_the_table_is_printed(quick_run: tuple[dict[str, Any], str]) -> None:
    _, stdout = quick_run
    assert stdout.startswith("orthweb bench — QUICK")
    for heading in ("Deploy:", "DICOM C-STORE ingest", "Web GET", "Whole studies:", "Variants:", "Program:"):
        assert heading in stdout
