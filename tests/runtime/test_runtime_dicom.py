"""DICOM through Envoy's TLS listener: DCMTK and pynetdicom clients, C-ECHO, C-STORE, C-FIND."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from orthweb.clients.dicom import SUCCESS, DicomEndpoint, echo, make_study, store, to_bytes
from tools.harness import Stack
from tools.harness.dicom import CALLING_AE, dcmtk_tool, find_instances, local_endpoint
from tools.harness.processes import LOOPBACK

pytestmark = pytest.mark.runtime

DCMTK_TIMEOUT = 60
# As after `source .venv/bin/activate`: pynetdicom's console scripts of the same names come first.
VENV_FIRST_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def dcmtk(tool: str, stack: Stack, *files: str) -> subprocess.CompletedProcess[str]:
    """echoscu/storescu over anonymous-client TLS, verifying the server against the site cert."""
    return subprocess.run(
        [
            dcmtk_tool(tool),
            "+tla",
            "+cf",
            str(stack.site_ca),
            "-aec",
            "ORTHANC",
            "-aet",
            CALLING_AE,
            LOOPBACK,
            str(stack.dicom_port),
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=DCMTK_TIMEOUT,
        check=False,
        env={**os.environ, "PATH": VENV_FIRST_PATH, "TCP_NODELAY": "1"},  # TCP_NODELAY: DCMTK leaves Nagle on otherwise
    )


def lookup(stack: Stack, uid: str) -> list[dict[str, str]]:
    status, _, body = stack.request("/tools/lookup", method="POST", body=uid.encode(), credential=stack.admin)
    assert status == 200
    import json

    return json.loads(body)


def test_dcmtk_echo_over_tls(stack: Stack) -> None:
    done = dcmtk("echoscu", stack)
    assert done.returncode == 0, done.stderr


def test_dcmtk_store_over_tls(stack: Stack, tmp_path: Path) -> None:
    study = make_study(3, patient_id="DCMTK")
    paths = []
    for n, ds in enumerate(study):
        path = tmp_path / f"{n}.dcm"
        path.write_bytes(to_bytes(ds))
        paths.append(str(path))
    done = dcmtk("storescu", stack, *paths)
    assert done.returncode == 0, done.stderr
    for ds in study:
        assert [hit["Type"] for hit in lookup(stack, ds.SOPInstanceUID)] == ["Instance"]


def test_dcmtk_refuses_a_server_it_does_not_trust(stack: Stack) -> None:
    """Control for the test above: without +cf the site certificate is not trusted."""
    done = subprocess.run(
        [dcmtk_tool("echoscu"), "+tla", "-aec", "ORTHANC", LOOPBACK, str(stack.dicom_port)],
        capture_output=True,
        text=True,
        timeout=DCMTK_TIMEOUT,
        check=False,
        env={**os.environ, "PATH": VENV_FIRST_PATH},
    )
    assert done.returncode != 0
    # Refused for the certificate, not for a usage error of some other `echoscu`.
    assert "certificate verify failed" in done.stdout + done.stderr, done.stdout + done.stderr


def test_the_venv_scripts_would_shadow_dcmtk() -> None:
    """Why the tools above are called by path: on this PATH `echoscu` is pynetdicom's script."""
    import shutil

    found = shutil.which("echoscu", path=VENV_FIRST_PATH)
    assert found is not None and Path(found).parent == Path(sys.executable).parent
    assert dcmtk_tool("echoscu") != found


def test_pynetdicom_echo_store_find(stack: Stack, dicom: DicomEndpoint, find_allowed: str) -> None:
    assert echo(dicom) == SUCCESS
    study = make_study(5, patient_id="PYNETDICOM")
    assert store(dicom, study) == [SUCCESS] * 5
    found = find_instances(dicom, study[0].StudyInstanceUID)
    assert found == {ds.SOPInstanceUID for ds in study}


def test_plain_dicom_on_the_tls_port_is_refused(stack: Stack) -> None:
    with pytest.raises(ConnectionError):
        echo(local_endpoint(port=stack.dicom_port, tls=None))


def _handshake(port: int, context: ssl.SSLContext) -> str:
    with (
        socket.create_connection((LOOPBACK, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=LOOPBACK) as tls,
    ):
        return str(tls.version())


def _legacy_client(stack: Stack, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(stack.site_ca))
    # OpenSSL 3 clients refuse TLS < 1.2 at the default security level: lower it so the
    # refusal, if any, is the server's.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = version
    context.maximum_version = version
    return context


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("listener", ["https", "dicom"])
def test_tls_below_1_2_is_refused(stack: Stack, listener: str) -> None:
    port = stack.https_port if listener == "https" else stack.dicom_port
    assert _handshake(port, _legacy_client(stack, ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises(ssl.SSLError) as refused:
            _handshake(port, _legacy_client(stack, version))
        # The server's alert, not a client that never offered the old version.
        assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value), refused.value
