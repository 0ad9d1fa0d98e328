"""Plain DICOM from the hospital (`hospitalNetwork`), through the real Envoy to the real Orthanc
replicas: the session's host renders the plain listener beside DICOM-TLS.

What reaches the listener is the security groups' business (tests/graph/test_hospital_vpn.py);
here: the listener serves plain DICOM, the TLS listener still speaks only TLS, and Orthanc's
known-modalities rule holds on the plain path too (OrthancServer/Sources/main.cpp
`OrthancApplicationEntityFilter::IsAllowedConnection`: an unknown calling AE title is rejected
with A-ASSOCIATE-RJ reason 3, "calling AE title not recognized", PS3.8 table 9-21).
"""

from __future__ import annotations

import dataclasses

import pytest

from orthweb.clients.dicom import (
    CALLING_AE_NOT_RECOGNIZED,
    SUCCESS,
    DicomEndpoint,
    echo,
    make_study,
    store,
)
from tests.runtime.conftest import instance_count, stored_instances
from tests.runtime.test_runtime_dicom_access import rejection_reason
from tools.harness import Stack

pytestmark = pytest.mark.runtime


def test_c_echo_and_c_store_in_plain_dicom_through_the_private_listener(
    stack: Stack, plain_dicom: DicomEndpoint
) -> None:
    assert echo(plain_dicom) == SUCCESS
    study = make_study(2, patient_id="PLAIN-DICOM")
    assert store(plain_dicom, study) == [SUCCESS, SUCCESS]
    uids = [str(ds.SOPInstanceUID) for ds in study]
    assert sorted(stored_instances(stack, uids)) == sorted(uids)


def test_plain_dicom_on_the_tls_listener_gets_no_association(stack: Stack, plain_dicom: DicomEndpoint) -> None:
    """The same client, pointed at DICOM-TLS: Envoy expects a TLS handshake and never proxies it."""
    on_tls_port = dataclasses.replace(plain_dicom, port=stack.dicom_port)
    with pytest.raises(ConnectionError):
        echo(on_tls_port)


def test_the_tls_listener_still_serves_tls(dicom: DicomEndpoint) -> None:
    assert echo(dicom) == SUCCESS


def test_an_unknown_ae_title_is_refused_on_the_plain_path(stack: Stack, plain_dicom: DicomEndpoint) -> None:
    intruder = dataclasses.replace(plain_dicom, calling_ae="INTRUDER")
    study = make_study(1, patient_id="PLAIN-INTRUDER")
    before = instance_count(stack)
    # An association lost before any answer on a loaded machine is tried again, as for DICOM-TLS.
    for attempt in (lambda: echo(intruder), lambda: store(intruder, study)):
        assert rejection_reason(attempt) == CALLING_AE_NOT_RECOGNIZED
    assert stored_instances(stack, [str(study[0].SOPInstanceUID)]) == []
    assert instance_count(stack) == before
