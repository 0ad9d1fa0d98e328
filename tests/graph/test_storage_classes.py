"""DICOM objects move to a storage class Orthanc's S3 plugin reads at once, after a configurable age;
the bundle and log buckets keep their own lifecycles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orthweb.config.problems import ConfigError
from orthweb.evaluate import Evaluation, evaluate
from orthweb.ops.cost import estimate
from orthweb.shared.constants import READABLE_STORAGE_CLASSES

BUCKET = "aws:s3/bucket:Bucket"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
# Amazon S3 User Guide, "Understanding S3 Glacier storage classes" and "Restoring an archived
# object": Glacier Flexible Retrieval and Deep Archive (and Intelligent-Tiering's archive tiers)
# need RestoreObject before a GET; Standard-IA and Glacier Instant Retrieval answer a GET at once.
NEEDS_A_RESTORE = {"GLACIER", "DEEP_ARCHIVE", "INTELLIGENT_TIERING"}


def lifecycle_of(stack: Evaluation, role: str) -> dict[str, Any]:
    bucket = next(b for b in stack.of_type(BUCKET) if b.inputs["tags"]["orthweb:role"] == role)
    (lifecycle,) = [r for r in stack.of_type(LIFECYCLE) if r.inputs["bucket"] == bucket.id]
    (rule,) = lifecycle.inputs["rules"]
    return rule


def test_only_classes_read_at_once_are_offered() -> None:
    assert set(READABLE_STORAGE_CLASSES) == {"STANDARD_IA", "GLACIER_IR"}
    assert not set(READABLE_STORAGE_CLASSES) & NEEDS_A_RESTORE


@pytest.mark.parametrize(("storage_class", "days"), [("STANDARD_IA", 30), ("STANDARD_IA", 400), ("GLACIER_IR", 1)])
def test_dicom_objects_move_after_the_configured_days(empty_home: Path, storage_class: str, days: int) -> None:
    options = {"storageClass": storage_class, "storageTransitionDays": days}
    stack = evaluate("dev", {"deploymentOptions": options}, home=empty_home)
    assert lifecycle_of(stack, "dicom")["transitions"] == [{"days": days, "storageClass": storage_class}]
    # The other buckets never change class.
    for role in ("logs", "host-bundles"):
        assert not lifecycle_of(stack, role).get("transitions")


def test_zero_keeps_every_object_in_standard(empty_home: Path) -> None:
    stack = evaluate("dev", {"deploymentOptions": {"storageTransitionDays": 0}}, home=empty_home)
    assert not lifecycle_of(stack, "dicom").get("transitions")
    lines = [item.item for item in estimate(stack.resources, "us-east-1").items]
    assert not [line for line in lines if line.startswith("DICOM objects older than")]


def test_the_defaults_move_objects_to_standard_ia_after_30_days(stack: Evaluation) -> None:
    assert lifecycle_of(stack, "dicom")["transitions"] == [{"days": 30, "storageClass": "STANDARD_IA"}]


@pytest.mark.parametrize(
    ("options", "key"),
    [
        # Amazon S3 User Guide, "Transitioning objects using Amazon S3 Lifecycle": at least 30 days
        # before a transition to S3 Standard-IA.
        ({"storageClass": "STANDARD_IA", "storageTransitionDays": 29}, "storageTransitionDays"),
        ({"storageClass": "GLACIER", "storageTransitionDays": 90}, "storageClass"),
        ({"storageClass": "DEEP_ARCHIVE"}, "storageClass"),
        ({"storageTransitionDays": -1}, "storageTransitionDays"),
    ],
)
def test_a_class_orthanc_cannot_read_or_an_age_s3_refuses_is_refused(
    empty_home: Path, options: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        evaluate("dev", {"deploymentOptions": options}, home=empty_home)
    (problem,) = refused.value.problems
    assert problem.key == f"deploymentOptions.{key}"


def test_plan_states_the_saving_for_a_stated_volume(empty_home: Path) -> None:
    stack = evaluate(
        "dev", {"deploymentOptions": {"storageClass": "GLACIER_IR", "storageTransitionDays": 90}}, home=empty_home
    )
    (line,) = [i for i in estimate(stack.resources, "us-east-1").items if i.item.startswith("DICOM objects older than")]
    assert line.item == "DICOM objects older than 90 days in GLACIER_IR"
    # $0.023 and $0.004 per GB-month (orthweb/data/prices.json, aws-s3-us-east-1).
    assert "1,000 GB cost $23.00 a month in S3 Standard and $4.00 in GLACIER_IR" in (line.note or "")
    elsewhere = [i for i in estimate(stack.resources, "ap-south-1").items if i.item.startswith("DICOM objects")]
    assert "no S3 storage prices for ap-south-1" in (elsewhere[0].note or "")


def test_backup_storage_is_listed_with_its_rates(stack: Evaluation) -> None:
    (line,) = [i for i in estimate(stack.resources, "us-east-1").items if i.item.startswith("AWS Backup")]
    assert line.usage_based
    assert "$0.05 per GB-month" in (line.note or "") and "$0.095 per GB-month" in (line.note or "")
