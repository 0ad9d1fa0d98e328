"""A modality registered once (stack config) is known to every replica, before and after restarts.

Through Envoy only, as a modality sees the site: each C-FIND is a new association, which Envoy
hands to the replicas in turn, so 2 x N associations reach every replica at least once.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from orthweb.clients.dicom import SUCCESS, DicomEndpoint, make_study, store
from orthweb.shared.modalities import DicomModality
from tools.harness import Stack
from tools.harness.dicom import find_instances

pytestmark = pytest.mark.runtime

RESTARTED = 1


def _queries_answered(stack: Stack, dicom: DicomEndpoint, study_uid: str, expected: set[str]) -> tuple[int, int]:
    """(associations, answered in full) for 2 x N C-FINDs, each on a new association."""
    sent = 2 * stack.replica_total
    answered = 0
    for _ in range(sent):
        with contextlib.suppress(ConnectionError):  # counted as not answered
            answered += find_instances(dicom, study_uid) == expected
    return sent, answered


def test_a_configured_modality_queries_every_replica_also_after_a_restart(
    stack: Stack, dicom: DicomEndpoint, find_allowed: str, runtime_report: dict[str, object]
) -> None:
    study = make_study(2, patient_id="MODALITIES")
    assert store(dicom, study) == [SUCCESS, SUCCESS]
    expected = {str(ds.SOPInstanceUID) for ds in study}
    before = _queries_answered(stack, dicom, study[0].StudyInstanceUID, expected)
    stack.restart_replica(RESTARTED)
    after = _queries_answered(stack, dicom, study[0].StudyInstanceUID, expected)
    runtime_report["configured modality: C-FIND associations answered / sent"] = (
        f"{before[1]} / {before[0]}; after restarting orthanc-{RESTARTED}: {after[1]} / {after[0]}"
    )
    assert (before, after) == ((before[0], before[0]), (after[0], after[0]))


def test_every_replica_lists_the_same_modalities(stack: Stack, test_modality: DicomModality) -> None:
    for replica in stack.replicas:
        status, _, body = stack.request("/modalities?expand", credential=stack.admin, base=replica.base_url)
        assert status == 200
        modalities = json.loads(body)
        assert {name: (m["AET"], m["Port"]) for name, m in modalities.items()} == {
            test_modality.aet: (test_modality.aet, test_modality.port)
        }, replica.name


@pytest.mark.parametrize(("method", "path"), [("PUT", "/modalities/other"), ("DELETE", "/modalities/ORTHWEBTEST")])
def test_registering_over_rest_is_refused_with_guidance(stack: Stack, method: str, path: str) -> None:
    body = json.dumps({"AET": "OTHER", "Host": "10.0.0.9", "Port": 104}).encode() if method == "PUT" else None
    status, _, text = stack.request(path, method=method, body=body, credential=stack.admin)
    assert status == 403 and b"dicomModalities" in text, (status, text)
    # The replica itself refuses too (orthweb-filter.lua), should anything reach it directly.
    direct = stack.request(path, method=method, body=body, credential=stack.admin, base=stack.replicas[0].base_url)
    assert direct[0] == 403, direct
