"""Whole studies through Envoy: a ZIP of at least 300 MB and a client reading at 1 MB/s finish.

The ZIP's size is ORTHWEB_LARGE_ZIP_MB (300 in CI; `ORTHWEB_LARGE_ZIP_MB=1000 pytest
tests/runtime/test_runtime_large_transfers.py` for 1 GB). Its pixels are incompressible, so the
archive is as large as the study.

What Orthanc does before a ZIP's first byte with orthanc.json's SynchronousZipStream false
(OrthancRestArchive.cpp, the same in Debian's 1.10.1 and the image's 1.12): it submits an archive
job and waits for it, sending nothing, not even the status line, until the job got a slot among
ConcurrentJobs, walked the index and wrote the whole archive to a temporary file; then it sends
the file with its length. That silent phase is what Envoy's stream idle timeout must outlast.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from orthweb.clients.dicom import to_bytes
from tools.harness import Stack
from tools.harness.dicom import make_multiframe_instance
from tools.harness.processes import LOOPBACK, wait_until

pytestmark = pytest.mark.runtime

ZIP_MB = int(os.environ.get("ORTHWEB_LARGE_ZIP_MB", "300"))
INSTANCE_MB = 100  # a few large multi-frame instances: cheap to make and to index
SLOW_MB = 6  # what the slow client reads, at SLOW_RATE: several seconds of back-pressure
SLOW_RATE = 1_000_000  # bytes per second
END_OF_CENTRAL_DIRECTORY = b"PK\x05\x06"
EOCD_SIZE = 22
# A ZIP whose client pauses: several instances, each far smaller than the archive.
PAUSED_MB = 64
PAUSED_INSTANCE_MB = 8


@dataclass
class Download:
    status: int
    size: int = 0
    headers_after: float = 0.0
    first_byte_after: float | None = None
    seconds: float = 0.0
    tail: bytes = b""


def _store_study(stack: Stack, megabytes: int, patient_id: str, instance_mb: int = INSTANCE_MB) -> str:
    """Instances of up to `instance_mb` in one new study, stored straight into a replica; its Orthanc id."""
    study_uid, series_uid = generate_uid(), generate_uid()
    study = ""
    for number in range(1, -(-megabytes // instance_mb) + 1):
        dataset = make_multiframe_instance(min(instance_mb, megabytes), patient_id=patient_id)
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.InstanceNumber = study_uid, series_uid, number
        status, _, body = stack.request(
            "/instances",
            method="POST",
            body=to_bytes(dataset),
            credential=stack.admin,
            base=stack.replica(1).base_url,
            timeout=300,
        )
        assert status == 200, body[:300]
        study = json.loads(body)["ParentStudy"]
    return study


@pytest.fixture(scope="module")
def studies(stack: Stack) -> Iterator[dict[str, str]]:
    made = {"large": _store_study(stack, ZIP_MB, "ORTHWEB-ZIP"), "slow": _store_study(stack, SLOW_MB, "ORTHWEB-SLOW")}
    yield made
    for study in made.values():  # the session's storage is a temporary folder on a shared disk
        stack.request(f"/studies/{study}", method="DELETE", credential=stack.admin)


def _download(stack: Stack, path: str, rate: float | None = None) -> Download:
    """GET `path` through Envoy over HTTPS, streaming; at most `rate` bytes per second."""
    connection = http.client.HTTPSConnection(LOOPBACK, stack.https_port, context=stack.ssl_context(), timeout=120)
    start = time.monotonic()
    try:
        connection.request("GET", path, headers={"Authorization": stack.admin.header})
        response = connection.getresponse()
        got = Download(response.status, headers_after=time.monotonic() - start)
        while chunk := response.read(65536):
            if got.first_byte_after is None:
                got.first_byte_after = time.monotonic() - start
            got.size += len(chunk)
            got.tail = (got.tail + chunk)[-65536:]
            if rate is not None:
                time.sleep(max(0.0, start + got.size / rate - time.monotonic()))
        got.seconds = time.monotonic() - start
        return got
    finally:
        connection.close()


def _zip_entries(download: Download) -> int:
    """Entries of a complete ZIP: its end record is last and its central directory ends there."""
    at = download.tail.rfind(END_OF_CENTRAL_DIRECTORY)
    assert at >= 0, "no ZIP end record: the archive was cut"
    entries, directory_size, directory_offset = struct.unpack("<HII", download.tail[at + 10 : at + 20])
    comment = struct.unpack("<H", download.tail[at + 20 : at + 22])[0]
    assert directory_offset + directory_size + EOCD_SIZE + comment == download.size, "central directory misplaced"
    return entries


def test_a_large_zip_and_a_slow_client_finish_through_envoy(
    stack: Stack, studies: dict[str, str], runtime_report: dict[str, object]
) -> None:
    slow: list[Download] = []
    reader = threading.Thread(
        target=lambda: slow.append(_download(stack, f"/studies/{studies['slow']}/archive", SLOW_RATE))
    )
    reader.start()
    large = _download(stack, f"/studies/{studies['large']}/archive")
    reader.join(timeout=600)
    assert large.status == 200 and large.size >= ZIP_MB * 1_000_000, large.size
    assert _zip_entries(large) >= -(-ZIP_MB // INSTANCE_MB)
    (paced,) = slow
    assert paced.status == 200 and paced.size >= SLOW_MB * 1_000_000
    assert _zip_entries(paced) >= 1
    assert paced.seconds >= paced.size / SLOW_RATE  # it really read at 1 MB/s
    runtime_report[f"ZIP of {large.size / 1e6:.0f} MB through Envoy"] = (
        f"headers after {large.headers_after:.2f}s, first byte after {large.first_byte_after:.2f}s,"
        f" {large.seconds:.1f}s ({large.size / 1e6 / large.seconds:.0f} MB/s)"
    )
    runtime_report[f"slow client, ZIP of {paced.size / 1e6:.0f} MB at 1 MB/s"] = f"complete in {paced.seconds:.1f}s"


def test_client_connections_carry_tcp_keepalives(stack: Stack) -> None:
    """The kernel's view of Envoy's accepted socket (`ss -o` shows its keepalive timer): a silent
    transfer keeps sending probes, which reset the load balancer's idle timer (Network Load
    Balancer guide, "Connection idle timeout": TCP keepalive packets reset it)."""
    connection = http.client.HTTPSConnection(LOOPBACK, stack.https_port, context=stack.ssl_context(), timeout=30)
    try:
        connection.connect()
        client_port = connection.sock.getsockname()[1]
        shown = subprocess.run(
            ["ss", "-tnoH", "state", "established", f"( sport = :{stack.https_port} and dport = :{client_port} )"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        connection.close()
    assert "timer:(keepalive," in shown, shown


def _resident_mib(pid: int) -> float:
    """The process's resident memory now (VmRSS), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def _archive_jobs(stack: Stack, base: str) -> dict[str, str]:
    """The replica's archive jobs: id -> state (GET /jobs?expand)."""
    status, _, body = stack.request("/jobs?expand", credential=stack.admin, base=base)
    assert status == 200, body[:300]
    return {job["ID"]: job["State"] for job in json.loads(body) if job["Type"] == "Archive"}


def test_a_paused_zip_reader_does_not_make_a_replica_hold_the_archive(
    stack: Stack, runtime_report: dict[str, object]
) -> None:
    """A client that asks for a ZIP and reads nothing. With Orthanc's streamed ZIP
    (SynchronousZipStream true, OrthancRestArchive.cpp) the archive job puts every compressed chunk
    in a queue without a bound while the HTTP thread waits on the client: the replica holds the
    whole archive for as long as the client stays connected (Envoy's stream idle timeout, an hour).
    orthanc.json sets it to false: the job writes the archive to a temporary file and the HTTP
    thread sends it from there at the client's pace. Asked straight from a replica, so no proxy
    buffer is in between; the study is several small instances so that one instance in memory
    (Orthanc reads each whole) is far below the archive."""
    replica = stack.replica(stack.replica_total)
    study = _store_study(stack, PAUSED_MB, "ORTHWEB-PAUSED", instance_mb=PAUSED_INSTANCE_MB)
    assert replica.process is not None and replica.process.popen is not None
    pid = replica.process.popen.pid
    earlier = _archive_jobs(stack, replica.base_url)
    before = _resident_mib(pid)
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # the kernel takes little off Orthanc
    try:
        reader.connect((LOOPBACK, replica.http_port))
        head = f"GET /studies/{study}/archive HTTP/1.1\r\nHost: orthanc\r\nAuthorization: {stack.admin.header}"
        reader.sendall(f"{head}\r\n\r\n".encode())
        wait_until(
            lambda: "Success" in {s for j, s in _archive_jobs(stack, replica.base_url).items() if j not in earlier},
            timeout=120,
            what="the archive job to finish while its client reads nothing",
        )
        held = _resident_mib(pid) - before
    finally:
        reader.close()
        stack.request(f"/studies/{study}", method="DELETE", credential=stack.admin)
    runtime_report[f"replica memory while a ZIP of {PAUSED_MB} MB waits on a paused client"] = f"+{held:.0f} MiB"
    # Streamed, the replica held more than the whole archive (+89 MiB for 64 MB); from a file, +1 to
    # +9 MiB alone and up to +32 MiB in a full run (the allocator keeps what the job's reads used).
    assert held < PAUSED_MB * 3 / 4, f"the replica grew {held:.0f} MiB holding a {PAUSED_MB} MB archive"
