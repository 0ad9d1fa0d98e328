"""C-MOVE through Envoy: Orthanc opens its own association to the configured destination."""

from __future__ import annotations

import pytest

from orthweb.clients.dicom import PENDING, SUCCESS, DicomEndpoint, make_study, store
from orthweb.shared.modalities import DicomModality
from tools.harness import Stack
from tools.harness.dicom import StorageListener, move_study

pytestmark = pytest.mark.runtime

INSTANCES = 3


def test_a_study_moves_to_a_configured_modality(
    stack: Stack, dicom: DicomEndpoint, test_modality: DicomModality, runtime_report: dict[str, object]
) -> None:
    study = make_study(INSTANCES, patient_id="CMOVE")
    assert store(dicom, study) == [SUCCESS] * INSTANCES
    with StorageListener(test_modality.port).running() as listener:
        statuses = move_study(dicom, study[0].StudyInstanceUID, test_modality.aet)
    runtime_report["C-MOVE through Envoy: instances moved / sent"] = f"{len(listener.received)} / {INSTANCES}"
    assert statuses and statuses[-1] == SUCCESS and set(statuses[:-1]) <= set(PENDING), statuses
    assert sorted(listener.received) == sorted(str(ds.SOPInstanceUID) for ds in study)


def test_a_move_to_an_unknown_destination_is_refused(stack: Stack, dicom: DicomEndpoint) -> None:
    study = make_study(1, patient_id="CMOVE-UNKNOWN")
    assert store(dicom, study) == [SUCCESS]
    statuses = move_study(dicom, study[0].StudyInstanceUID, "NOT_CONFIGURED")
    assert statuses and statuses[-1] not in (SUCCESS, *PENDING), statuses
