"""DICOM ingest load: C-STORE a batch over k concurrent associations and time it.

Two workloads: many tiny instances (the harness's 8x8 Secondary Capture, per-instance overhead)
and 512x512 16-bit MR images (uncompressed, ~0.5 MB each, bandwidth). Every run sends fresh
UIDs, so no run stores a duplicate that Orthanc would skip.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid

from orthweb.clients.dicom import DicomEndpoint, make_study, new_instance, to_bytes
from tools.harness.dicom import store_with_retry

MR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4")
IMAGE_SIZE = 512
# A retry round after a reported failure (PostgreSQL plugin 4.0 serialization errors) counts
# in the elapsed time: that is what a sender lives with.
MAX_ATTEMPTS = 5


@cache
def _phantom() -> bytes:
    """A 512x512 12-bit-in-16 slice: a bright disc with a gradient on a dark background.

    Structured like a real slice (so StorageCompression has something to compress), made once.
    """
    centre, radius2 = IMAGE_SIZE / 2, (IMAGE_SIZE * 0.42) ** 2
    pixels = bytearray(IMAGE_SIZE * IMAGE_SIZE * 2)
    for row in range(IMAGE_SIZE):
        dy2 = (row - centre) ** 2
        for column in range(IMAGE_SIZE):
            if dy2 + (column - centre) ** 2 < radius2:
                value = 600 + (row * 3 + column * 5) % 1400 + int(200 * math.sin(column / 9.0))
            else:
                value = (row * 7 + column * 13) % 31  # background noise floor
            offset = (row * IMAGE_SIZE + column) * 2
            pixels[offset : offset + 2] = value.to_bytes(2, "little")
    return bytes(pixels)


def make_mr_series(count: int, patient_id: str = "ORTHWEB-BENCH") -> list[Dataset]:
    """`count` MR slices of one new series: 512x512, 16 bits allocated, explicit VR LE."""
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    base = _phantom()
    row_bytes = IMAGE_SIZE * 2
    series = []
    for number in range(1, count + 1):
        ds = new_instance(MR_IMAGE_STORAGE)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.PatientID, ds.PatientName = patient_id, "Bench^Orthweb"
        ds.StudyID, ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "1", "MR", 1, number
        ds.SliceThickness, ds.SliceLocation = 1.0, float(number)
        ds.ImagePositionPatient = [-128.0, -128.0, float(number)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [0.5, 0.5]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = IMAGE_SIZE
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.WindowCenter, ds.WindowWidth = 1000, 2000
        shift = (number * 3 % IMAGE_SIZE) * row_bytes  # each slice differs a little
        ds.PixelData = base[shift:] + base[:shift]
        series.append(ds)
    return series


@dataclass(frozen=True)
class Workload:
    """What one DICOM run sends: `count` fresh instances from `make(count)`."""

    name: str
    description: str
    count: int
    make: Callable[[int], list[Dataset]]

    @property
    def bytes_each(self) -> int:
        return len(to_bytes(self.make(1)[0]))


def small_workload(count: int) -> Workload:
    return Workload("small", "8x8 8-bit Secondary Capture", count, lambda n: make_study(n, patient_id="BENCH-SMALL"))


def large_workload(count: int) -> Workload:
    return Workload("large", "512x512 16-bit MR, uncompressed", count, lambda n: make_mr_series(n, "BENCH-MR"))


@dataclass(frozen=True)
class StoreRun:
    seconds: float
    acknowledged: int
    sent: int
    bytes_acknowledged: int
    first_attempt_failures: int

    @property
    def instances_per_second(self) -> float:
        return self.acknowledged / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.bytes_acknowledged / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "seconds": round(self.seconds, 3),
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "first_attempt_failures": self.first_attempt_failures,
            "instances_per_s": round(self.instances_per_second, 1),
            # Four places: a stalled run of small instances moves well under 0.01 MB/s.
            "mb_per_s": round(self.mb_per_second, 4),
        }


def ingest(endpoint: DicomEndpoint, datasets: list[Dataset], associations: int) -> StoreRun:
    """C-STORE `datasets` split over `associations` concurrent associations (one per thread)."""
    sizes = {str(ds.SOPInstanceUID): len(to_bytes(ds)) for ds in datasets}
    chunks = [datasets[i::associations] for i in range(associations)]
    start = time.perf_counter()
    with ThreadPoolExecutor(associations) as pool:
        reports = list(pool.map(lambda chunk: store_with_retry(endpoint, chunk, max_attempts=MAX_ATTEMPTS), chunks))
    seconds = time.perf_counter() - start
    acknowledged = set().union(*(r.acknowledged for r in reports))
    return StoreRun(
        seconds=seconds,
        acknowledged=len(acknowledged),
        sent=len(datasets),
        bytes_acknowledged=sum(sizes[uid] for uid in acknowledged),
        first_attempt_failures=sum(sum(r.first_failures.values()) for r in reports),
    )
