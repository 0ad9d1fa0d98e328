"""DICOMweb as a client speaks it (DICOM PS3.18): STOW-RS, QIDO-RS, WADO-RS and WADO-URI requests
and the multipart/related bodies they carry, over any `send(method, path, body, headers)`.

Used by the runtime tests (through Envoy or straight to a replica) and by `orthweb verify`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlencode

from orthweb.shared.constants import DICOMWEB_ROOT, WADO_URI_ROOT

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
# Every instance as it was stored: no transcoding, so the bytes can be compared with what was sent.
AS_STORED = f'multipart/related; type="{DICOM}"; transfer-syntax=*'
BULK_DATA = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
RETRIEVE_URL = "00081190"
REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")

    def json(self) -> Any:
        return json.loads(self.body)


Send = Callable[[str, str, bytes | None, Mapping[str, str]], Answer]


def multipart_related(parts: Sequence[bytes], part_type: str = DICOM) -> tuple[bytes, str]:
    """A multipart/related body of `parts` and the Content-Type header that announces it."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for part in parts:
        chunks += [f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode(), part, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f'multipart/related; type="{part_type}"; boundary={boundary}'


def split_multipart(content_type: str, body: bytes) -> list[bytes]:
    """The payloads of a multipart answer, in order (each part's own headers dropped)."""
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError(f"no multipart boundary in Content-Type {content_type!r}")
    # A delimiter is a whole line (RFC 2046): "--boundary", then "--" (the last) or a line end.
    delimiter = re.compile(rb"\r\n--" + re.escape(boundary.encode()) + rb"(--|[ \t]*\r\n)")
    data = b"\r\n" + body  # the first delimiter may open the body without a line break before it
    payloads: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(data):
        if start is not None:
            _, separator, payload = data[start : match.start()].partition(b"\r\n\r\n")
            if not separator:
                raise ValueError("a multipart part has no header/body separator")
            payloads.append(payload)
        if match.group(1) == b"--":
            return payloads
        start = match.end()
    raise ValueError("the multipart body has no closing delimiter")


def walk_attributes(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (tag, attribute) of DICOM JSON, nested sequences included."""
    if isinstance(node, list):
        for item in node:
            yield from walk_attributes(item)
    elif isinstance(node, dict):
        for tag, attribute in node.items():
            if isinstance(attribute, dict):
                yield tag, attribute
                yield from walk_attributes(attribute.get("Value", []))


def urls_in(dicom_json: Any) -> list[str]:
    """Every absolute URL a DICOM JSON answer hands the client: BulkDataURI and RetrieveURL values."""
    found: list[str] = []
    for tag, attribute in walk_attributes(dicom_json):
        if "BulkDataURI" in attribute:
            found.append(str(attribute["BulkDataURI"]))
        if tag == RETRIEVE_URL:
            found += [str(v) for v in attribute.get("Value", [])]
    return found


class DicomWebClient:
    """The four DICOMweb services of one server, rooted at `root` (a path on the same site)."""

    def __init__(self, send: Send, root: str = DICOMWEB_ROOT, wado_uri_root: str = WADO_URI_ROOT) -> None:
        self.send = send
        self.root = root if root.endswith("/") else root + "/"
        self.wado_uri_root = wado_uri_root

    def store(self, files: Sequence[bytes]) -> Answer:
        """STOW-RS: POST the Part 10 files as one multipart request."""
        body, content_type = multipart_related(files)
        return self.send("POST", self.root + "studies", body, {"Content-Type": content_type, "Accept": DICOM_JSON})

    def search(self, path: str, **filters: str) -> Answer:
        """QIDO-RS: `studies`, `studies/<uid>/series`, `studies/<uid>/series/<uid>/instances`, ..."""
        query = f"?{urlencode(filters)}" if filters else ""
        return self.send("GET", self.root + path + query, None, {"Accept": DICOM_JSON})

    def retrieve(self, path: str) -> Answer:
        """WADO-RS: the instances under `path` (a study, series or instance), as stored."""
        return self.send("GET", self.root + path, None, {"Accept": AS_STORED})

    def metadata(self, path: str) -> Answer:
        """WADO-RS: the metadata of the instances under `path`, bulk data as BulkDataURI."""
        return self.send("GET", self.root + path + "/metadata", None, {"Accept": DICOM_JSON})

    def wado_uri(self, study: str, series: str, instance: str) -> Answer:
        """WADO-URI: one instance as a Part 10 file."""
        # "/" stays literal: the plugin does not decode "application%2Fdicom" (answers 400).
        uids = {"studyUID": study, "seriesUID": series, "objectUID": instance}
        query = urlencode({"requestType": "WADO", **uids, "contentType": DICOM}, safe="/")
        return self.send("GET", f"{self.wado_uri_root}?{query}", None, {})


def instance_path(study: str, series: str, instance: str) -> str:
    """The WADO-RS path of one instance, below the DICOMweb root."""
    return f"studies/{study}/series/{series}/instances/{instance}"
