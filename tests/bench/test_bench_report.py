"""The bench document's summaries and its table, from synthetic runs (no servers, no timing)."""

from __future__ import annotations

from typing import Any

import pytest

from orthweb.evaluate import Evaluation
from tools.bench.report import format_report, studies_lines, table, times
from tools.bench.runner import (
    OURS,
    BenchSettings,
    Cell,
    CellKey,
    cell_json,
    deploy_section,
    ratio_rows,
    variant_rows,
)
from tools.bench.targets import DEFAULTS, DIRECT, ENVOY
from tools.bench.variants import by_name

# Throughput per target, per run: run 2 is uniformly slow (noise), which paired ratios cancel.
DICOM_RATE = {ENVOY: 40.0, DIRECT: 50.0, DEFAULTS: 100.0, "envoy-buffer-32k": 60.0}
WEB_RATE = {ENVOY: 200.0, DIRECT: 400.0, DEFAULTS: 800.0, "envoy-buffer-32k": 100.0}
NOISE = (1.0, 0.5, 1.0)


def _dicom_run(rate: float) -> dict[str, object]:
    return {
        "seconds": 10 / rate,
        "sent": 10,
        "acknowledged": 10,
        "first_attempt_failures": 0,
        "instances_per_s": rate,
        "mb_per_s": rate / 10,
    }


def _web_run(rate: float) -> dict[str, object]:
    return {
        "seconds": 1.0,
        "requests": rate,
        "requests_per_s": rate,
        "mb_per_s": rate,
        "p50_ms": 1000 / rate,
        "p99_ms": 5000 / rate,
    }


def synthetic_cells() -> dict[CellKey, Cell]:
    cells: dict[CellKey, Cell] = {}
    for kind, rates, make in (("dicom", DICOM_RATE, _dicom_run), ("web", WEB_RATE, _web_run)):
        for workload in ("small", "large"):
            for level in (1, 4):
                for name, rate in rates.items():
                    variant, target = (name, ENVOY) if name == "envoy-buffer-32k" else (OURS, name)
                    key = CellKey(kind, workload, level, variant, target)
                    cells[key] = Cell(key, [make(rate * n) for n in NOISE])
    return cells


@pytest.fixture(scope="module")
def document(dev: Evaluation, prod: Evaluation) -> dict[str, Any]:
    cells = synthetic_cells()
    settings = BenchSettings.quick_mode(by_name(["envoy-buffer-32k"]))
    section = {
        kind: {
            "workloads": {
                "small": {"description": "tiny", "instances": 40, "requests": 60, "bytes_each": 1024},
                "large": {"description": "MR", "instances": 12, "requests": 30, "bytes_each": 525_000},
            },
            "cells": [cell_json(c) for k, c in cells.items() if k.kind == kind],
            "ratios": ratio_rows(cells, kind, (1, 4)),
        }
        for kind in ("dicom", "web")
    }
    section["web"]["path"] = "GET /instances/{id}/file"
    return {
        "schema": 1,
        "started": "2026-01-01T00:00:00+00:00",
        "settings": settings.to_json(),
        "machine": {"cpus": 2, "load_average_1m": 1.0, "load_average_1m_end": 1.5},
        "duration_seconds": 90.0,
        "deploy": deploy_section({"dev": dev, "prod": prod}),
        "dicom": section["dicom"],
        "web": section["web"],
        "variants": variant_rows(cells, settings.variants),
        "program": {
            "plan": {
                "label": "python -m orthweb plan",
                "runs": 1,
                "wall_seconds_median": 4.0,
                "peak_rss_mb": 190.0,
                "exit_status": 0,
            },
            "suite": {
                "label": "pytest tests/unit",
                "runs": 1,
                "wall_seconds_median": 7.0,
                "peak_rss_mb": 190.0,
                "exit_status": 0,
            },
        },
    }


def _ratio(section: dict[str, Any], name: str, workload: str, level: int, metric: str) -> float:
    wanted = (name, workload, level, metric)
    rows = [r for r in section["ratios"] if (r["name"], r["workload"], r["concurrency"], r["metric"]) == wanted]
    assert len(rows) == 1
    return rows[0]["value"]


def test_ratios_pair_runs_and_cancel_common_noise(document: dict) -> None:
    for workload in ("small", "large"):
        for level in (1, 4):
            assert _ratio(document["dicom"], "envoy/direct", workload, level, "instances_per_s") == pytest.approx(0.8)
            assert _ratio(document["dicom"], "ours/defaults", workload, level, "instances_per_s") == pytest.approx(0.5)
            assert _ratio(document["dicom"], "site/defaults", workload, level, "instances_per_s") == pytest.approx(0.4)
            assert _ratio(document["web"], "envoy/direct", workload, level, "requests_per_s") == pytest.approx(0.5)
            # Latency ratio: Envoy takes twice as long per request here.
            assert _ratio(document["web"], "envoy/direct", workload, level, "p50_ms") == pytest.approx(2.0)


def test_cells_carry_medians_and_every_run(document: dict) -> None:
    cell = next(c for c in document["dicom"]["cells"] if c["target"] == ENVOY and c["variant"] == OURS)
    assert cell["median"]["instances_per_s"] == 40.0  # median of 40, 20, 40
    assert len(cell["runs"]) == len(NOISE)
    assert cell["complete"] is True and cell["first_attempt_failures"] == 0
    web = next(c for c in document["web"]["cells"] if c["target"] == DIRECT)
    assert set(web["median"]) == {"requests_per_s", "mb_per_s", "p50_ms", "p99_ms"}
    assert "clients" in web and "associations" not in web


def test_variant_rows_compare_each_cell_with_ours(document: dict) -> None:
    (variant,) = document["variants"]
    assert variant["name"] == "envoy-buffer-32k" and variant["file"] == "envoy.yaml"
    ratios = {(c["kind"], c["workload"], c["concurrency"]): c["ratio"] for c in variant["comparisons"]}
    assert len(ratios) == 8
    assert all(r == pytest.approx(1.5) for (kind, _, _), r in ratios.items() if kind == "dicom")
    assert all(r == pytest.approx(0.5) for (kind, _, _), r in ratios.items() if kind == "web")
    assert variant["geometric_mean_ratio"] == pytest.approx((1.5 * 0.5) ** 0.5, abs=1e-3)
    assert variant["verdict"] == "costs"


def test_deploy_ratio_is_anchor_over_ours(document: dict) -> None:
    deploy = document["deploy"]
    for name in ("dev", "prod"):
        expected = deploy["anchor"]["seconds"] / deploy[name]["seconds"]
        assert deploy["ratios"][f"anchor/{name}"] == pytest.approx(expected, abs=0.01)
        assert deploy["ratios"][f"anchor/{name}"] > 1


def test_table_columns_line_up() -> None:
    lines = table(["name", "value"], [["a", "1.0"], ["longer name", "12.50"]])
    assert lines == [
        "name         value",
        "-----------  -----",
        "a              1.0",
        "longer name  12.50",
    ]
    assert times(1.234) == "1.23x" and times(None) == "-"


def test_report_has_every_section_and_labels_quick_runs(document: dict) -> None:
    text = format_report(document)
    for heading in ("Deploy:", "DICOM C-STORE ingest", "Web GET /instances/{id}/file", "Variants:", "Program:"):
        assert heading in text
    assert "QUICK" in text
    assert "0.80x" in text and "0.50x" in text  # envoy/direct for DICOM and web
    assert "envoy-buffer-32k" in text and "costs" in text
    assert "Terraform orthweb 1.0.1" in text
    blocks = text.strip().split("\n\n")
    assert len(blocks) == 6
    for block in blocks[1:]:
        header, rule = block.splitlines()[1:3]
        # The rule under each header has one dash run per column, as wide as that column.
        assert len(rule.split()) == len(header.split("  ")) - header.split("  ").count("")


def test_each_round_runs_every_cell_once_grouped_and_reordered() -> None:
    from tools.bench.runner import Deployment, round_order

    deployment = Deployment(OURS, {})
    plan = [
        (CellKey(kind, "small", level, f"v{i}", ENVOY), deployment)
        for kind in ("dicom", "web")
        for level in (1, 4)
        for i in range(8)
    ]
    rounds = [round_order(plan, n) for n in range(3)]
    for order in rounds:
        assert sorted(map(repr, order)) == sorted(map(repr, plan))
        groups = [(key.kind, key.concurrency) for key, _ in order]
        assert groups == sorted(groups, key=[("dicom", 1), ("dicom", 4), ("web", 1), ("web", 4)].index)
    firsts = {order[0][0].variant for order in rounds}
    assert len(firsts) > 1 or len({tuple(k for k, _ in order) for order in rounds}) > 1
    assert round_order(plan, 1) == rounds[1]  # reproducible


def test_whole_studies_show_both_anchors_the_first_byte_and_peak_memory() -> None:
    cell = {"mb_per_s": 100.0, "instances_per_s": 5.0, "cpu_busy": 0.5}
    studies = {
        "settings": {"runs": 3},
        "rows": [
            {
                "workload": "ZIP of 1000 MB study",
                "envoy-tls": {**cell, "first_byte_s": 4.25},
                "direct": {**cell, "mb_per_s": 110.0},
                "nginx-tls": {**cell, "mb_per_s": 90.0},
                "envoy/direct": 0.91,
                "envoy/nginx-tls": 1.11,
                "limit": "cpu",
            }
        ],
        "peak_memory_mib": {"envoy": 80.0, "orthanc-1": 1100.0},
    }
    text = "\n".join(studies_lines(studies))
    assert "median of 3 run(s)" in text
    row = next(line for line in text.splitlines() if line.startswith("ZIP"))
    assert row.split()[-8:] == ["100.0", "110.0", "90.0", "5.0", "0.91x", "1.11x", "4.25", "cpu"]
    assert "envoy 80, orthanc-1 1,100" in text
    assert studies_lines(None) == []
