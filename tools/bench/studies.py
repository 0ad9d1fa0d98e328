"""Whole-study workloads, each through Envoy, straight to a replica and through nginx in one run.

C-STORE of a study over DICOM-TLS (one association and several), STOW-RS of a study in one
multipart request, WADO-RS of a whole study and of a series of large multi-frame instances, and
the ZIP of a large study (`/studies/{id}/archive`, with the silent phase before its first byte).
Each cell reports MB/s and instances/s, the share of the machine's CPU that was busy and waiting
for the disk while it ran (which limit it hit), and the run ends with the peak memory of Envoy,
nginx and each replica. Rounds interleave the targets in a rotated order, as the other sections.
"""

from __future__ import annotations

import http.client
import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.uid import generate_uid

from orthweb.clients.dicom import to_bytes
from orthweb.clients.dicomweb import multipart_related
from orthweb.shared.constants import DICOMWEB_ROOT
from tools.bench.dicom import ingest, make_mr_series
from tools.bench.move import MoveReceiver
from tools.bench.nginx import NginxProxy
from tools.bench.proxies import ProxyVariant
from tools.bench.stats import median, paired_ratio
from tools.bench.targets import DIRECT, ENVOY, Target, direct_target, envoy_target
from tools.harness import Stack
from tools.harness.dicom import local_endpoint, make_multiframe_instance, tls_context

NGINX = "nginx-tls"
TARGETS = (ENVOY, DIRECT, NGINX)
MULTIFRAME_MB = 100  # the large study is made of instances this size
TIMEOUT = 600
CHUNK = 1 << 20


@dataclass(frozen=True)
class StudySettings:
    instances: int  # the C-STORE study and the WADO-RS study (512x512 MR slices, ~513 KiB)
    stow_instances: int  # STOW-RS, one request
    associations: int  # C-STORE in parallel
    series_mb: int  # WADO-RS of a multi-frame series
    zip_mb: int  # ZIP of the large study (the series and more)
    runs: int

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


FULL = StudySettings(instances=1000, stow_instances=200, associations=4, series_mb=500, zip_mb=1000, runs=3)
QUICK = StudySettings(instances=40, stow_instances=20, associations=4, series_mb=20, zip_mb=40, runs=1)
# What fits a tuning run on a shared machine (`bench --studies-only medium`): more rounds, smaller reads.
MEDIUM = StudySettings(instances=200, stow_instances=100, associations=4, series_mb=100, zip_mb=100, runs=5)
SIZES = {"quick": QUICK, "medium": MEDIUM, "full": FULL}


@dataclass(frozen=True)
class Sample:
    seconds: float
    size: int
    instances: int
    cpu_busy: float  # share of all cores busy while the cell ran
    io_wait: float
    first_byte: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.size / 1e6 / self.seconds, 2),
            "instances_per_s": round(self.instances / self.seconds, 1),
            "cpu_busy": round(self.cpu_busy, 2),
            "io_wait": round(self.io_wait, 2),
            **({"first_byte_s": round(self.first_byte, 3)} if self.first_byte is not None else {}),
        }


def _cpu_times() -> tuple[int, int, int]:
    """(busy, iowait, total) jiffies of all cores, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    total = sum(fields[:8])
    return total - idle - iowait, iowait, total


def timed(work: Callable[[], tuple[int, int, float | None]]) -> Sample:
    """Run `work` -> (bytes, instances, first byte after); its wall time and the machine's load."""
    busy0, wait0, total0 = _cpu_times()
    start = time.perf_counter()
    size, instances, first_byte = work()
    seconds = time.perf_counter() - start
    busy1, wait1, total1 = _cpu_times()
    total = max(total1 - total0, 1)
    return Sample(seconds, size, instances, (busy1 - busy0) / total, (wait1 - wait0) / total, first_byte)


def limit(sample: Sample) -> str:
    """What bounded a cell: the CPU when the cores were nearly all busy, else the disk when it waited."""
    if sample.cpu_busy >= 0.85:
        return "cpu"
    return "disk" if sample.io_wait >= 0.2 else "latency (neither CPU nor disk saturated)"


# -- HTTP -----------------------------------------------------------------------------------------
@contextmanager
def _connection(target: Target) -> Iterator[http.client.HTTPConnection]:
    if target.tls is not None:
        connection = http.client.HTTPSConnection(target.host, target.http_port, timeout=TIMEOUT, context=target.tls)
    else:
        connection = http.client.HTTPConnection(target.host, target.http_port, timeout=TIMEOUT)
    try:
        yield connection
    finally:
        connection.close()


def fetch(target: Target, path: str, accept: str | None = None) -> tuple[int, float | None]:
    """GET `path` streaming: (bytes of the body, seconds to its first byte)."""
    headers = {"Authorization": target.credential.header, **({"Accept": accept} if accept else {})}
    start = time.perf_counter()
    with _connection(target) as connection:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        size, first = 0, None
        while chunk := response.read(CHUNK):
            first = first if first is not None else time.perf_counter() - start
            size += len(chunk)
        if response.status != 200:
            raise RuntimeError(f"{target.name}: GET {path} answered {response.status}")
    return size, first


def call(target: Target, method: str, path: str, body: bytes = b"", content_type: str = "") -> Any:
    headers = {"Authorization": target.credential.header, "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    with _connection(target) as connection:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"{target.name}: {method} {path} answered {response.status}: {answer[:200]!r}")
    return json.loads(answer) if answer else None


def study_of(target: Target, study_uid: str) -> str:
    (hit,) = [h["ID"] for h in call(target, "POST", "/tools/lookup", study_uid.encode()) if h["Type"] == "Study"]
    return hit


def delete_study(target: Target, study_uid: str) -> None:
    """Uploads are removed after each cell: the disk holds one study per workload, not one per run."""
    call(target, "DELETE", f"/studies/{study_of(target, study_uid)}")


# -- workloads ------------------------------------------------------------------------------------
AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'


@dataclass(frozen=True)
class Workload:
    """`make()` builds fresh input (not timed); `run(target, input)` -> (bytes, instances, first
    byte after); `cleanup(input)` removes what it stored."""

    name: str
    make: Callable[[], Any]
    run: Callable[[Target, Any], tuple[int, int, float | None]]
    cleanup: Callable[[Any], None] = lambda _: None
    # Also through each Envoy variant: the HTTP transfers whose time the proxy can change (not
    # the ZIP, whose time is Orthanc's compression and temporary file).
    proxied: bool = False


@dataclass(frozen=True)
class Stored:
    """What the reads read: stored once, straight into replica 1."""

    mr_study: str  # StudyInstanceUID of `instances` MR slices
    large_study: str  # Orthanc id of the large study (ZIP)
    large_study_uid: str
    series: str  # SeriesInstanceUID of its multi-frame series
    series_instances: int
    large_instances: int


def _multiframe(megabytes: int, study: str, series: str, number: int) -> bytes:
    dataset = make_multiframe_instance(megabytes, patient_id="BENCH-LARGE")
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.InstanceNumber = study, series, number
    return to_bytes(dataset)


def store_reads(settings: StudySettings, direct: Target) -> Stored:
    mr = make_mr_series(settings.instances, "BENCH-STUDY")
    stored = ingest(direct.dicom, mr, settings.associations)
    if stored.acknowledged != len(mr):
        raise RuntimeError(f"{direct.name}: {len(mr) - stored.acknowledged} MR slices not stored")
    study, series, rest = generate_uid(), generate_uid(), generate_uid()
    sizes = [min(MULTIFRAME_MB, settings.series_mb - done) for done in range(0, settings.series_mb, MULTIFRAME_MB)]
    extra = [
        min(MULTIFRAME_MB, left - done)
        for left in [settings.zip_mb - settings.series_mb]
        for done in range(0, left, MULTIFRAME_MB)
    ]
    for number, megabytes in enumerate(sizes, start=1):
        call(direct, "POST", "/instances", _multiframe(megabytes, study, series, number))
    for number, megabytes in enumerate(extra, start=1):
        call(direct, "POST", "/instances", _multiframe(megabytes, study, rest, number))
    return Stored(
        str(mr[0].StudyInstanceUID), study_of(direct, study), study, series, len(sizes), len(sizes) + len(extra)
    )


def _stored(answer: Any, count: int) -> None:
    """A STOW-RS answer: every instance referenced (00081199), none failed (00081198)."""
    sequences = answer if isinstance(answer, dict) else {}
    referenced, failed = (sequences.get(tag, {}).get("Value", []) for tag in ("00081199", "00081198"))
    if len(referenced) != count or failed:
        raise RuntimeError(f"STOW-RS stored {len(referenced)} of {count}, {len(failed)} failed")


def _store(associations: int) -> Callable[[Target, Any], tuple[int, int, float | None]]:
    def run(target: Target, datasets: Any) -> tuple[int, int, float | None]:
        done = ingest(target.dicom, datasets, associations)
        if done.acknowledged != len(datasets):
            raise RuntimeError(f"{target.name}: {len(datasets) - done.acknowledged} instances not stored")
        return done.bytes_acknowledged, done.acknowledged, None

    return run


def _reader(path: str, count: int, accept: str | None) -> Callable[[Target, Any], tuple[int, int, float | None]]:
    def run(target: Target, _: Any) -> tuple[int, int, float | None]:
        size, first = fetch(target, path, accept)
        return size, count, first

    return run


def workloads(settings: StudySettings, stored: Stored, admin: Target, receiver: MoveReceiver) -> list[Workload]:
    def stow_input() -> tuple[str, bytes, str]:
        series = make_mr_series(settings.stow_instances, "BENCH-STOW")
        return (str(series[0].StudyInstanceUID), *multipart_related([to_bytes(ds) for ds in series]))

    def stow(target: Target, given: tuple[str, bytes, str]) -> tuple[int, int, float | None]:
        _stored(call(target, "POST", f"{DICOMWEB_ROOT}studies", given[1], given[2]), settings.stow_instances)
        return len(given[1]), settings.stow_instances, None

    def fresh_study() -> list[Any]:
        return make_mr_series(settings.instances, "BENCH-STORE")

    def drop_mr(datasets: Any) -> None:
        delete_study(admin, str(datasets[0].StudyInstanceUID))

    series_path = f"{DICOMWEB_ROOT}studies/{stored.large_study_uid}/series/{stored.series}"
    return [
        Workload(f"C-STORE {settings.instances}, 1 assoc", fresh_study, _store(1), drop_mr),
        Workload(
            f"C-STORE {settings.instances}, {settings.associations} assoc",
            fresh_study,
            _store(settings.associations),
            drop_mr,
        ),
        Workload(
            f"STOW-RS {settings.stow_instances} in 1 request",
            stow_input,
            stow,
            lambda given: delete_study(admin, given[0]),
            proxied=True,
        ),
        Workload(
            f"WADO-RS study of {settings.instances}",
            lambda: None,
            _reader(f"{DICOMWEB_ROOT}studies/{stored.mr_study}", settings.instances, AS_STORED),
            proxied=True,
        ),
        Workload(
            f"WADO-RS {settings.series_mb} MB series",
            lambda: None,
            _reader(series_path, stored.series_instances, AS_STORED),
            proxied=True,
        ),
        Workload(
            f"ZIP of {settings.zip_mb} MB study",
            lambda: None,
            _reader(f"/studies/{stored.large_study}/archive", stored.large_instances, None),
        ),
        Workload(
            f"C-MOVE {settings.instances} to a listener",
            lambda: None,
            lambda target, _: receiver.move(target, stored.mr_study, settings.instances),
        ),
    ]


# -- the section ----------------------------------------------------------------------------------
def nginx_target(stack: Stack, nginx: NginxProxy) -> Target:
    context = tls_context(str(stack.site_ca))
    return Target(NGINX, local_endpoint(port=nginx.dicom_port, tls=context), nginx.https_port, stack.admin, context)


def _peak_mib(pid: int) -> float:
    """The process's resident-set high-water mark (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def peak_memory(stack: Stack, nginx: NginxProxy) -> dict[str, float]:
    """Peak RSS of Envoy, of nginx's workers (together) and of each replica, over the whole run."""
    peaks: dict[str, float] = {}
    if stack.envoy is not None and stack.envoy.process is not None and stack.envoy.process.popen is not None:
        peaks["envoy"] = _peak_mib(stack.envoy.process.popen.pid)
    if nginx.process is not None and nginx.process.popen is not None:
        peaks["nginx workers"] = round(sum(_peak_mib(pid) for pid in _children(nginx.process.popen.pid)), 1)
    for replica in stack.replicas:
        if replica.process is not None and replica.process.popen is not None:
            peaks[replica.name] = _peak_mib(replica.process.popen.pid)
    return peaks


def _row(name: str, samples: dict[str, list[Sample]]) -> dict[str, Any]:
    rates = {t: [s.size / 1e6 / s.seconds for s in samples[t]] for t in TARGETS}
    row: dict[str, Any] = {"workload": name}
    for target in TARGETS:
        row[target] = {
            "mb_per_s": round(median(rates[target]), 1),
            "instances_per_s": round(median([s.instances / s.seconds for s in samples[target]]), 1),
            "cpu_busy": round(median([s.cpu_busy for s in samples[target]]), 2),
        }
        firsts = [s.first_byte for s in samples[target] if s.first_byte is not None]
        if firsts:
            row[target]["first_byte_s"] = round(median(firsts), 2)
    for anchor in (DIRECT, NGINX):
        value = paired_ratio(rates[ENVOY], rates[anchor])
        row[f"envoy/{anchor}"] = round(value, 2) if value is not None else None
    row["limit"] = limit(max(samples[ENVOY], key=lambda s: s.cpu_busy))
    return row


def _variant_rows(plan: list[Workload], samples: Samples, variants: tuple[ProxyVariant, ...]) -> list[dict[str, Any]]:
    """Each Envoy variant against ours on the workloads it ran: MB/s and the paired ratio (> 1: faster)."""
    rows = []
    for variant in variants:
        comparisons = []
        for workload in (w for w in plan if w.proxied):
            ours, theirs = (
                [s.size / 1e6 / s.seconds for s in samples[workload.name][t]] for t in (ENVOY, variant.name)
            )
            value = paired_ratio(theirs, ours)
            comparisons.append(
                {
                    "workload": workload.name,
                    "mb_per_s": round(median(theirs), 1),
                    "ratio": round(value, 2) if value is not None else None,
                }
            )
        rows.append({**variant.to_json(), "comparisons": comparisons})
    return rows


Samples = dict[str, dict[str, list[Sample]]]


def _rounds(
    plan: list[Workload],
    targets: dict[str, Target],
    variants: tuple[str, ...],
    runs: int,
    progress: Callable[[str], None],
) -> Samples:
    """`runs` rounds; in each, every workload on every target that runs it, in an order shuffled per
    round and workload (seeded), so no target always follows the same neighbour."""
    samples: Samples = {w.name: {t: [] for t in (*TARGETS, *variants)} for w in plan}
    for round_number in range(runs):
        for workload in plan:
            order = [*TARGETS, *(variants if workload.proxied else ())]
            random.Random(f"{round_number}:{workload.name}").shuffle(order)
            for target in order:
                given = workload.make()
                samples[workload.name][target].append(timed(lambda w=workload, t=target, g=given: w.run(targets[t], g)))
                workload.cleanup(given)
        progress(f"whole studies: round {round_number + 1} of {runs} done")
    return samples


def studies_section(
    stack: Stack,
    settings: StudySettings,
    work: Path,
    progress: Callable[[str], None],
    *,
    move_port: int,
    variants: tuple[ProxyVariant, ...] = (),
) -> dict[str, Any]:
    """Every workload on every target, `settings.runs` interleaved rounds; rows and peak memory.
    `move_port`: where the stack's rendered modality receives C-MOVE (`with_move_destination`)."""
    with NginxProxy(stack, work / "nginx") as nginx, MoveReceiver(move_port).running() as receiver:
        targets = {ENVOY: envoy_target(stack), DIRECT: direct_target(stack), NGINX: nginx_target(stack, nginx)}
        targets.update({variant.name: variant.start(stack) for variant in variants})
        stored = store_reads(settings, targets[DIRECT])
        plan = workloads(settings, stored, targets[DIRECT], receiver)
        samples = _rounds(plan, targets, tuple(v.name for v in variants), settings.runs, progress)
        memory = peak_memory(stack, nginx)
    return {
        "settings": settings.to_json(),
        "rows": [_row(w.name, samples[w.name]) for w in plan],
        "variants": _variant_rows(plan, samples, variants),
        "peak_memory_mib": memory,
    }
