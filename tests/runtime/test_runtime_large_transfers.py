"""Whole studies through Envoy: a ZIP of at least 300 MB and a client reading at 1 MB/s finish.

The ZIP's size is ORTHWEB_LARGE_ZIP_MB (300 in CI; `ORTHWEB_LARGE_ZIP_MB=1000 pytest
tests/runtime/test_runtime_large_transfers.py` for 1 GB). Its pixels are incompressible, so the
archive is as large as the study.

What Orthanc does before a ZIP's first byte (OrthancRestArchive.cpp, SynchronousZipStream, the
default since 1.9.4, the same in Debian's 1.10.1 and the image's 1.12): it submits an archive job,
sends the status line and headers at once (chunked), then sends nothing until the job runs and
writes its first entry. The job waits for a free slot among ConcurrentJobs and first walks the
index for every instance: that silent phase is what Envoy's stream idle timeout must outlast.
"""

from __future__ import annotations

import http.client
import json
import os
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydicom.uid import generate_uid

from orthweb.clients.dicom import to_bytes
from tools.harness import Stack
from tools.harness.dicom import make_multiframe_instance
from tools.harness.processes import LOOPBACK

pytestmark = pytest.mark.runtime

ZIP_MB = int(os.environ.get("ORTHWEB_LARGE_ZIP_MB", "300"))
INSTANCE_MB = 100  # a few large multi-frame instances: cheap to make and to index
SLOW_MB = 6  # what the slow client reads, at SLOW_RATE: several seconds of back-pressure
SLOW_RATE = 1_000_000  # bytes per second
END_OF_CENTRAL_DIRECTORY = b"PK\x05\x06"
EOCD_SIZE = 22


@dataclass
class Download:
    status: int
    size: int = 0
    headers_after: float = 0.0
    first_byte_after: float | None = None
    seconds: float = 0.0
    tail: bytes = b""


def _store_study(stack: Stack, megabytes: int, patient_id: str) -> str:
    """Instances of up to INSTANCE_MB in one new study, stored straight into a replica; its Orthanc id."""
    study_uid, series_uid = generate_uid(), generate_uid()
    study = ""
    for number in range(1, -(-megabytes // INSTANCE_MB) + 1):
        dataset = make_multiframe_instance(min(INSTANCE_MB, megabytes), patient_id=patient_id)
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
