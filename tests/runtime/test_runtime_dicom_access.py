"""Only the configured modalities, calling the site's AE title, get an association (through Envoy).

Orthanc rejects an association from an AE title that is not in `DicomModalities` once every
`DicomAlwaysAllow*` is false, and one naming another called AE title with `DicomCheckCalledAet`
(OrthancServer/Sources/main.cpp `OrthancApplicationEntityFilter::IsAllowedConnection`,
OrthancFramework/Sources/DicomNetworking/Internals/CommandDispatcher.cpp; the same in 1.10.1 and
1.12). Each refused caller tries C-ECHO, C-STORE, C-FIND and C-MOVE; the test then asks Orthanc
whether anything it sent was stored, and stores the same instances as the configured modality to
show that the check would have seen them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from orthweb.clients.dicom import (
    CALLED_AE_NOT_RECOGNIZED,
    CALLING_AE_NOT_RECOGNIZED,
    SUCCESS,
    AssociationRejected,
    DicomEndpoint,
    echo,
    make_study,
    store,
)
from tests.runtime.conftest import instance_count, stored_instances
from tools.harness import Stack
from tools.harness.dicom import find_instances, move_study

pytestmark = pytest.mark.runtime

# (what the caller gets wrong, how, the A-ASSOCIATE-RJ reason Orthanc must give)
REFUSED_CALLERS = [
    ("an unknown calling AE title", {"calling_ae": "INTRUDER"}, CALLING_AE_NOT_RECOGNIZED),
    ("the server's own AE title as the caller", {"calling_ae": "ORTHANC"}, CALLING_AE_NOT_RECOGNIZED),
    ("a wrong called AE title", {"called_ae": "NOT_ORTHANC"}, CALLED_AE_NOT_RECOGNIZED),
    ("a generic called AE title", {"called_ae": "ANY-SCP"}, CALLED_AE_NOT_RECOGNIZED),
]


def attempts(endpoint: DicomEndpoint, study_uid: str, datasets: list) -> dict[str, Callable[[], object]]:
    return {
        "C-ECHO": lambda: echo(endpoint),
        "C-STORE": lambda: store(endpoint, datasets),
        "C-FIND": lambda: find_instances(endpoint, study_uid),
        "C-MOVE": lambda: move_study(endpoint, study_uid, endpoint.calling_ae),
    }


def rejection_reason(attempt: Callable[[], object], tries: int = 3) -> int | None:
    """The reason of the A-ASSOCIATE-RJ the attempt got. An association lost before any answer
    (a connection closed on a loaded machine) is no association either: tried again."""
    for _ in range(tries):
        try:
            attempt()
        except AssociationRejected as rejected:
            return rejected.diagnostic
        except ConnectionError:
            continue
        pytest.fail("the association was accepted")
    return None


@pytest.mark.parametrize(("mistake", "change", "reason"), REFUSED_CALLERS, ids=[c[0] for c in REFUSED_CALLERS])
def test_a_caller_that_is_not_a_configured_modality_calling_orthanc_gets_no_association(
    stack: Stack,
    dicom: DicomEndpoint,
    mistake: str,
    change: dict[str, str],
    reason: int,
    runtime_report: dict[str, object],
) -> None:
    study = make_study(2, patient_id="REFUSED-CALLER")
    uids = [str(ds.SOPInstanceUID) for ds in study]
    before = instance_count(stack)
    caller = dataclasses.replace(dicom, **change)
    refused = 0
    for service, attempt in attempts(caller, study[0].StudyInstanceUID, study).items():
        assert rejection_reason(attempt) == reason, (mistake, service)
        refused += 1
    assert stored_instances(stack, uids) == [], f"{mistake}: Orthanc stored what it should have refused"
    assert instance_count(stack) == before
    # Control: the same instances from the configured modality, calling ORTHANC, are stored.
    assert store(dicom, study) == [SUCCESS, SUCCESS]
    assert sorted(stored_instances(stack, uids)) == sorted(uids)
    key = "refused associations (not a configured modality calling ORTHANC)"
    counted = runtime_report.get(key, 0)
    runtime_report[key] = (counted if isinstance(counted, int) else 0) + refused


def test_the_configured_modality_is_known_in_any_case(stack: Stack, dicom: DicomEndpoint) -> None:
    """Orthanc compares AE titles without case (StrictAetComparison false): the modality's own
    title in lower case is still that modality, so nothing is refused that should not be."""
    study = make_study(1, patient_id="ANY-CASE")
    lower = dataclasses.replace(dicom, calling_ae=dicom.calling_ae.lower(), called_ae="orthanc")
    assert store(lower, study) == [SUCCESS]
    assert stored_instances(stack, [str(study[0].SOPInstanceUID)]) == [str(study[0].SOPInstanceUID)]
