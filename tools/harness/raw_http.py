"""HTTP/1.1 written byte for byte: request lines, targets and headers no client library would
send (absolute-form targets, WebDAV verbs, duplicate or odd headers, bodies on GET)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from tools.harness.processes import LOOPBACK


@dataclass(frozen=True)
class RawResponse:
    status: int  # CLOSED when the server closed the connection without an answer
    headers: dict[str, str]  # names in lower case (the last of repeated ones)
    body: bytes


def request_bytes(
    method: str, target: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b"", *, host: str = LOOPBACK
) -> bytes:
    """One request that closes its connection; Content-Length is added for a body unless the
    headers frame it themselves."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    framed = {name.lower() for name, _ in headers} & {"content-length", "transfer-encoding"}
    if body and not framed:
        lines.append(f"Content-Length: {len(body)}")
    lines += ["Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def send(port: int, raw: bytes, *, tls: ssl.SSLContext | None = None, timeout: float = 15) -> RawResponse:
    """Send `raw` to 127.0.0.1:`port` (over TLS with `tls`) and read the answer until the server closes."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as plain:
        stream = tls.wrap_socket(plain, server_hostname=LOOPBACK) if tls else plain
        with stream:
            stream.sendall(raw)
            data = bytearray()
            # Stop at the end of the answer: after a local reply Envoy waits for the client to close.
            head_only = raw.startswith(b"HEAD ")
            while not _complete(data, head_only) and (chunk := stream.recv(65536)):
                data += chunk
    return parse_response(bytes(data))


def _complete(data: bytes | bytearray, head_only: bool) -> bool:
    """Whether `data` holds a whole answer; False also when only the server's close can tell."""
    head, found, body = bytes(data).partition(b"\r\n\r\n")
    if not found:
        return False
    lines = head.decode("latin-1").lower().split("\r\n")
    fields = {name.strip(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    if head_only or lines[0].split(" ")[1:2] in (["204"], ["304"]):
        return True
    if "content-length" in fields:
        return len(body) >= int(fields["content-length"])
    return fields.get("transfer-encoding") == "chunked" and body.endswith(b"0\r\n\r\n")


# The status of a connection the server closed without answering.
CLOSED = 0


def parse_response(data: bytes) -> RawResponse:
    if not data:
        return RawResponse(CLOSED, {}, b"")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or len(lines[0].split(" ")) < 2:
        raise ValueError(f"not an HTTP response: {data[:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    return RawResponse(int(lines[0].split(" ")[1]), headers, body)


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)
