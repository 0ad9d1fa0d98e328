"""The DICOMweb client's pure parts: multipart/related bodies both ways, and the URLs in DICOM JSON."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orthweb.clients.dicomweb import Answer, DicomWebClient, instance_path, multipart_related, split_multipart, urls_in


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_split_gives_back_the_parts_that_were_joined(parts: list[bytes]) -> None:
    body, content_type = multipart_related(parts)
    assert content_type.startswith('multipart/related; type="application/dicom"; boundary=')
    assert split_multipart(content_type, body) == parts


def test_a_quoted_boundary_and_part_headers_are_handled() -> None:
    body = (
        b"--abc\r\nContent-Type: application/dicom\r\nContent-Length: 4\r\n\r\nDICM\r\n"
        b"--abc\r\nContent-Type: application/dicom\r\n\r\n\r\n--abcd\r\n--abc--\r\n"
    )
    assert split_multipart('multipart/related; type="application/dicom"; boundary="abc"', body) == [
        b"DICM",
        b"\r\n--abcd",  # a line that merely starts like the boundary stays inside the part
    ]


def test_no_boundary_or_no_closing_delimiter_is_an_error() -> None:
    with pytest.raises(ValueError, match="boundary"):
        split_multipart("multipart/related", b"--x\r\n\r\n--x--")
    with pytest.raises(ValueError, match="closing"):
        split_multipart("multipart/related; boundary=x", b"--x\r\n\r\nDICM")  # cut short


def test_urls_in_finds_bulk_data_and_retrieve_urls_at_any_depth() -> None:
    metadata = [
        {
            "00081190": {"vr": "UR", "Value": ["https://site/dicom-web/studies/1"]},
            "7FE00010": {
                "vr": "OW",
                "BulkDataURI": "https://site/dicom-web/studies/1/series/2/instances/3/bulk/7fe00010",
            },
            "00540016": {"vr": "SQ", "Value": [{"00181078": {"vr": "DT", "BulkDataURI": "https://site/nested"}}]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Test^Patient"}]},
        }
    ]
    assert urls_in(metadata) == [
        "https://site/dicom-web/studies/1",
        "https://site/dicom-web/studies/1/series/2/instances/3/bulk/7fe00010",
        "https://site/nested",
    ]


def test_requests_go_below_the_roots_with_the_dicomweb_media_types() -> None:
    sent: list[tuple[str, str, dict[str, str]]] = []

    def send(method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> Answer:
        sent.append((method, path, dict(headers)))
        return Answer(200, {}, b"")

    client = DicomWebClient(send)
    client.search("studies", PatientID="P 1")
    client.retrieve(instance_path("1.2", "3.4", "5.6"))
    client.wado_uri("1.2", "3.4", "5.6")
    client.store([b"DICM"])
    assert sent[0] == ("GET", "/dicom-web/studies?PatientID=P+1", {"Accept": "application/dicom+json"})
    assert sent[1][1] == "/dicom-web/studies/1.2/series/3.4/instances/5.6"
    assert "transfer-syntax=*" in sent[1][2]["Accept"]
    assert sent[2][1] == "/wado?requestType=WADO&studyUID=1.2&seriesUID=3.4&objectUID=5.6&contentType=application/dicom"
    assert sent[3][:2] == ("POST", "/dicom-web/studies")
    assert sent[3][2]["Content-Type"].startswith("multipart/related")
