"""A C-ECHO in plain DICOM that `verify` runs on a host over SSM, where no DICOM toolkit is installed.

This file is sent as it is to the host's `python3` (Amazon Linux 2023 ships 3.9): standard library
only, no orthweb import. Arguments: address, port, calling AE title, called AE title. It prints one
line, `status 0x0000` when the association is accepted and the echo answered, else what happened
(`rejected result R source S reason N`, `aborted`, `error ...`), and exits 0 only on success.

The PDUs are those of DICOM PS3.8 section 9.3 (A-ASSOCIATE-RQ/AC/RJ, P-DATA-TF, A-RELEASE, A-ABORT);
the C-ECHO-RQ command set is PS3.7 section 9.3.5, in Implicit VR Little Endian (PS3.5 section 10.1).
"""

from __future__ import annotations

import socket
import struct
import sys

APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"
VERIFICATION = b"1.2.840.10008.1.1"
IMPLICIT_LITTLE_ENDIAN = b"1.2.840.10008.1.2"
# A UID under 2.25 (PS3.5 B.2, a UUID as a decimal integer) naming this probe's implementation.
IMPLEMENTATION_CLASS = b"2.25.86140113298216328616404213893217562201"
CONTEXT_ID = 1
TIMEOUT_SECONDS = 10


def _item(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(body)) + body


def _pdu(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBI", kind, 0, len(body)) + body


def _ae(title: str) -> bytes:
    return title.encode("ascii").ljust(16)[:16]


def associate_request(calling: str, called: str) -> bytes:
    syntaxes = _item(0x30, VERIFICATION) + _item(0x40, IMPLICIT_LITTLE_ENDIAN)
    context = struct.pack(">BBBB", CONTEXT_ID, 0, 0, 0) + syntaxes
    user = _item(0x51, struct.pack(">I", 16384)) + _item(0x52, IMPLEMENTATION_CLASS)
    body = struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + bytes(32)
    body += _item(0x10, APPLICATION_CONTEXT) + _item(0x20, context) + _item(0x50, user)
    return _pdu(0x01, body)


def _element(group: int, element: int, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0"  # UIDs are padded to even length with NUL (PS3.5 9.1)
    return struct.pack("<HHI", group, element, len(value)) + value


def echo_request() -> bytes:
    """P-DATA-TF with the C-ECHO-RQ command set (one PDV, command, last fragment)."""
    rest = (
        _element(0, 0x0002, VERIFICATION)
        + _element(0, 0x0100, struct.pack("<H", 0x0030))
        + _element(0, 0x0110, struct.pack("<H", 1))
        + _element(0, 0x0800, struct.pack("<H", 0x0101))
    )
    command = _element(0, 0x0000, struct.pack("<I", len(rest))) + rest
    pdv = struct.pack(">IBB", len(command) + 2, CONTEXT_ID, 0x03) + command
    return _pdu(0x04, pdv)


def _receive(sock: socket.socket) -> tuple[int, bytes]:
    header = _exactly(sock, 6)
    kind, _, length = struct.unpack(">BBI", header)
    return kind, _exactly(sock, length)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the peer")
        data += chunk
    return data


def accepted_context(body: bytes) -> bool:
    """Whether an A-ASSOCIATE-AC accepts the Verification context (item 0x21, result 0)."""
    offset = 68  # version, reserved, AE titles and reserved fields precede the items
    while offset + 4 <= len(body):
        kind, _, length = struct.unpack(">BBH", body[offset : offset + 4])
        if kind == 0x21:
            return body[offset + 4] == CONTEXT_ID and body[offset + 6] == 0
        offset += 4 + length
    return False


def response_status(body: bytes) -> int:
    """The Status (0000,0900) of the C-ECHO-RSP in a P-DATA-TF's first PDV."""
    command = body[6:]
    offset = 0
    while offset + 8 <= len(command):
        group, element, length = struct.unpack("<HHI", command[offset : offset + 8])
        if (group, element) == (0, 0x0900):
            return struct.unpack("<H", command[offset + 8 : offset + 10])[0]
        offset += 8 + length
    raise ValueError("no Status in the C-ECHO response")


def echo(address: str, port: int, calling: str, called: str) -> str:
    with socket.create_connection((address, port), timeout=TIMEOUT_SECONDS) as sock:
        sock.sendall(associate_request(calling, called))
        kind, body = _receive(sock)
        if kind == 0x03:
            return f"rejected result {body[1]} source {body[2]} reason {body[3]}"
        if kind != 0x02:
            return "aborted" if kind == 0x07 else f"error: PDU type {kind} in answer to the association"
        if not accepted_context(body):
            return "error: the Verification presentation context was not accepted"
        sock.sendall(echo_request())
        kind, body = _receive(sock)
        if kind != 0x04:
            return "aborted" if kind == 0x07 else f"error: PDU type {kind} in answer to the C-ECHO"
        status = response_status(body)
        sock.sendall(_pdu(0x05, bytes(4)))
        return f"status 0x{status:04x}"


def main(argv: list[str]) -> int:
    address, port, calling, called = argv
    try:
        line = echo(address, int(port), calling, called)
    except (OSError, ValueError, struct.error) as error:
        line = f"error: {error.__class__.__name__}: {error}"
    print(line)
    return 0 if line == "status 0x0000" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
