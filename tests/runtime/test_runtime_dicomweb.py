"""DICOMweb through Envoy's HTTPS listener, with Debian's DICOMweb plugin loaded as the image loads
its own: STOW-RS, QIDO-RS, WADO-RS, WADO-URI, the URLs in the answers, authentication, and a
multi-frame instance of over 100 MB up and down (timed through Envoy and straight to a replica)."""

from __future__ import annotations

import io
import json
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from orthweb.clients.dicom import make_study, to_bytes
from orthweb.clients.dicomweb import (
    REFERENCED_SOP_SEQUENCE,
    Answer,
    DicomWebClient,
    instance_path,
    split_multipart,
    urls_in,
)
from orthweb.shared.constants import DICOMWEB_ROOT
from tools.harness import Credential, Stack
from tools.harness.compose_replicas import compose_services, service_environment
from tools.harness.dicom import make_multiframe_instance
from tools.harness.image_plugins import plugins_not_run

pytestmark = pytest.mark.runtime

LARGE_MB = 100


def client(stack: Stack, credential: Credential | None, *, base: str | None = None, **headers: str) -> DicomWebClient:
    """A DICOMweb client of the site (or of one replica, with `base`), adding `headers` to each request."""

    def send(method: str, path: str, body: bytes | None, request_headers: Mapping[str, str]) -> Answer:
        status, answer_headers, answer = stack.request(
            path,
            method=method,
            body=body,
            credential=credential,
            headers={**request_headers, **headers},
            base=base,
            timeout=300,
        )
        return Answer(status, answer_headers, answer)

    return DicomWebClient(send)


@dataclass(frozen=True)
class Stored:
    datasets: list[Dataset]
    files: list[bytes]
    answer: Answer

    @property
    def study(self) -> str:
        return str(self.datasets[0].StudyInstanceUID)

    @property
    def series(self) -> str:
        return str(self.datasets[0].SeriesInstanceUID)

    def path(self, index: int) -> str:
        ds = self.datasets[index]
        return instance_path(self.study, self.series, str(ds.SOPInstanceUID))


@pytest.fixture(scope="module")
def site(stack: Stack) -> DicomWebClient:
    return client(stack, stack.admin)


@pytest.fixture(scope="module")
def stored(site: DicomWebClient) -> Stored:
    """Two instances of one new study, sent in one STOW-RS request through Envoy."""
    datasets = make_study(2, patient_id="DICOMWEB")
    files = [to_bytes(ds) for ds in datasets]
    return Stored(datasets, files, site.store(files))


def test_dicomweb_is_loaded_and_the_viewers_are_not_run_here(stack: Stack, runtime_report: dict[str, object]) -> None:
    status, _, body = stack.request("/plugins", credential=stack.admin)
    assert status == 200 and "dicom-web" in json.loads(body)
    replica = service_environment(compose_services(stack.rendered)["orthanc-1"])
    not_run = plugins_not_run(replica, json.loads(stack.rendered["orthanc.json"]))
    # Debian packages neither viewer: their rendered configuration is checked in tests/static only.
    assert not_run == ["Ohif", "StoneWebViewer"]
    runtime_report["image plugins not run here (checked statically)"] = ", ".join(not_run)


def site_prefix(stack: Stack) -> str:
    """What every URL in an answer must start with: the site as this client reached it."""
    return stack.https_base + DICOMWEB_ROOT


def test_stow_rs_stores_each_instance_and_answers_with_site_urls(stack: Stack, stored: Stored) -> None:
    assert stored.answer.status == 200, stored.answer.body[:300]
    answer = stored.answer.json()
    referenced = answer[REFERENCED_SOP_SEQUENCE]["Value"]
    assert len(referenced) == len(stored.files)
    urls = urls_in(answer)
    assert urls and all(url.startswith(site_prefix(stack)) for url in urls), urls


@pytest.mark.parametrize("level", ["study", "series", "instances"])
def test_qido_rs_finds_what_was_stored(stack: Stack, site: DicomWebClient, stored: Stored, level: str) -> None:
    searches: dict[str, Callable[[], Answer]] = {
        "study": lambda: site.search("studies", StudyInstanceUID=stored.study),
        "series": lambda: site.search(f"studies/{stored.study}/series"),
        "instances": lambda: site.search(f"studies/{stored.study}/series/{stored.series}/instances"),
    }
    answer = searches[level]()
    assert answer.status == 200, answer.body[:300]
    found = answer.json()
    assert len(found) == {"study": 1, "series": 1, "instances": len(stored.files)}[level]
    urls = urls_in(found)
    assert urls and all(url.startswith(site_prefix(stack)) for url in urls), urls


def test_wado_rs_returns_the_same_bytes_and_pixel_data(site: DicomWebClient, stored: Stored) -> None:
    answer = site.retrieve(f"studies/{stored.study}")
    assert answer.status == 200, answer.body[:300]
    parts = split_multipart(answer.header("content-type"), answer.body)
    assert sorted(parts) == sorted(stored.files)
    returned = {str(d.SOPInstanceUID): d.PixelData for d in (pydicom.dcmread(io.BytesIO(p)) for p in parts)}
    assert returned == {str(d.SOPInstanceUID): d.PixelData for d in stored.datasets}


def test_wado_rs_metadata_bulk_data_uris_name_the_site_and_can_be_followed(
    stack: Stack, site: DicomWebClient, stored: Stored
) -> None:
    answer = site.metadata(stored.path(0))
    assert answer.status == 200, answer.body[:300]
    (bulk,) = [url for url in urls_in(answer.json()) if "/bulk/" in url]
    assert bulk.startswith(site_prefix(stack)), bulk
    # The client follows the URL as given: it leads back through Envoy to the pixel data.
    followed = site.send("GET", bulk.removeprefix(stack.https_base), None, {})
    assert followed.status == 200
    (pixels,) = split_multipart(followed.header("content-type"), followed.body)
    assert pixels == stored.datasets[0].PixelData


def test_urls_name_the_site_as_the_client_asked_for_it_not_forged_headers(stack: Stack, stored: Stored) -> None:
    # A client that reached the site by its DNS name (e.g. through the load balancer) and sent
    # forwarding headers of its own: Envoy's headers win, the name is the one it asked for.
    forged = client(
        stack,
        stack.admin,
        Host="pacs.example.org",
        Forwarded="proto=http;host=internal.example",
        **{"X-Forwarded-Host": "internal.example", "X-Forwarded-Proto": "http"},
    )
    answer = forged.metadata(stored.path(0))
    assert answer.status == 200, answer.body[:300]
    urls = urls_in(answer.json())
    assert urls and all(url.startswith(f"https://pacs.example.org{DICOMWEB_ROOT}") for url in urls), urls


def test_wado_uri_returns_the_instance(site: DicomWebClient, stored: Stored) -> None:
    ds = stored.datasets[1]
    answer = site.wado_uri(stored.study, stored.series, str(ds.SOPInstanceUID))
    assert answer.status == 200, answer.body[:300]
    assert answer.body == stored.files[1]


def test_unauthenticated_and_wrong_credentials_are_refused(stack: Stack, stored: Stored) -> None:
    wrong = Credential(stack.admin.username, stack.admin.password + "x")
    for credential in (None, wrong, stack.health):
        outsider = client(stack, credential)
        statuses = {
            "qido": outsider.search("studies").status,
            "wado-rs": outsider.retrieve(f"studies/{stored.study}").status,
            "metadata": outsider.metadata(stored.path(0)).status,
            "wado-uri": outsider.wado_uri(stored.study, stored.series, str(stored.datasets[0].SOPInstanceUID)).status,
            "stow": outsider.store(stored.files[:1]).status,
        }
        assert all(status in (401, 403) for status in statuses.values()), (credential, statuses)


@pytest.fixture(scope="session")
def large_instance(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Path]:
    """One multi-frame instance over LARGE_MB MB, made once per session in a temporary folder."""
    dataset = make_multiframe_instance(LARGE_MB)
    path = tmp_path_factory.mktemp("large") / "multiframe.dcm"
    path.write_bytes(to_bytes(dataset))
    return dataset, path


def _timed(call: Callable[[], Answer]) -> tuple[Answer, float]:
    start = time.monotonic()
    answer = call()
    return answer, time.monotonic() - start


def test_a_100_mb_instance_goes_up_and_down_through_envoy(
    stack: Stack, site: DicomWebClient, large_instance: tuple[Dataset, Path], runtime_report: dict[str, object]
) -> None:
    dataset, path = large_instance
    data = path.read_bytes()
    assert len(data) > LARGE_MB * 1_000_000
    stowed, upload = _timed(lambda: site.store([data]))
    assert stowed.status == 200, stowed.body[:300]
    instance = instance_path(str(dataset.StudyInstanceUID), str(dataset.SeriesInstanceUID), str(dataset.SOPInstanceUID))
    direct = client(stack, stack.admin, base=stack.replica(1).base_url)
    timings: dict[str, list[float]] = {"envoy": [], "direct": []}
    for _ in range(2):
        for name, dicomweb in (("envoy", site), ("direct", direct)):
            answer, seconds = _timed(lambda dicomweb=dicomweb: dicomweb.retrieve(instance))
            assert answer.status == 200
            assert split_multipart(answer.header("content-type"), answer.body) == [data]
            timings[name].append(seconds)
    runtime_report[f"DICOMweb {len(data) / 1e6:.0f} MB instance: STOW-RS through Envoy, s"] = round(upload, 2)
    for name, seconds in timings.items():
        runtime_report[f"DICOMweb {len(data) / 1e6:.0f} MB WADO-RS retrieve {name}, s (runs)"] = [
            round(s, 2) for s in seconds
        ]
    runtime_report["DICOMweb 100 MB WADO-RS retrieve, median envoy / direct"] = round(
        statistics.median(timings["envoy"]) / statistics.median(timings["direct"]), 2
    )
