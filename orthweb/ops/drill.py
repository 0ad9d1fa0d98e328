"""A restore rehearsal: restore the stack's data to its latest restorable moment into scratch
resources, compare them with the live ones, measure the recovery time and point, then remove them."""

from __future__ import annotations

import datetime
import random
import time
from dataclasses import dataclass
from typing import Any

from orthweb.ops.aws import OpsError, call_aws
from orthweb.ops.consistency import stored_keys
from orthweb.ops.point_in_time import versions_at
from orthweb.ops.restore import LiveData, RestoredData, restore

# Objects compared byte for byte (a sample: a drill must stay cheap on a large bucket).
SAMPLE_SIZE = 20


@dataclass(frozen=True)
class DrillReport:
    restored: RestoredData
    recovery_seconds: float  # from the start of the restore until both were ready
    recovery_point_seconds: float  # how much recent data a restore started now would lose
    live_objects: int  # objects the live bucket held at the moment
    restored_objects: int
    sampled: int
    different: tuple[str, ...]  # sampled keys whose restored bytes differ

    @property
    def passed(self) -> bool:
        return not self.different and self.live_objects == self.restored_objects

    def lines(self) -> list[str]:
        verdict = "passed" if self.passed else "FAILED"
        lines = [
            f"drill {verdict}: restored to {self.restored.moment.isoformat()} in {self.recovery_seconds:.0f} s "
            f"(recovery time); a restore now would lose the last {self.recovery_point_seconds:.0f} s (recovery point)",
            f"  objects: live {self.live_objects}, restored {self.restored_objects}; {self.sampled} compared byte for "
            f"byte, {len(self.different)} different",
        ]
        lines += [f"  different: {key}" for key in self.different]
        return lines


def drill(rds: Any, s3: Any, live: LiveData, *, now: datetime.datetime) -> DrillReport:
    """Restore, compare and clean up; the scratch resources go whatever the outcome."""
    moment = live.window.latest
    started = time.monotonic()
    restored = restore(rds, s3, live, moment)
    try:
        seconds = time.monotonic() - started
        # The live bucket as it was at the moment: what the restored one must hold, byte for byte.
        expected = versions_at(s3, live.bucket, moment)
        restored_keys = set(stored_keys(s3, restored.bucket))
        sample = random.Random(moment.timestamp()).sample(sorted(expected), min(SAMPLE_SIZE, len(expected)))
        different = tuple(
            key
            for key in sample
            if _bytes(s3, live.bucket, key, expected[key]) != _bytes(s3, restored.bucket, key)
            or key not in restored_keys
        )
        return DrillReport(
            restored=restored,
            recovery_seconds=seconds,
            recovery_point_seconds=(now - moment).total_seconds(),
            live_objects=len(expected),
            restored_objects=len(restored_keys),
            sampled=len(sample),
            different=different,
        )
    finally:
        remove_scratch(rds, s3, restored)


def _bytes(s3: Any, bucket: str, key: str, version: str | None = None) -> bytes | None:
    try:
        found = s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
    except s3.exceptions.NoSuchKey:
        return None
    return found["Body"].read()


def remove_scratch(rds: Any, s3: Any, restored: RestoredData) -> None:
    """Delete the scratch database (no final snapshot) and the scratch bucket with every version."""
    call_aws(
        rds,
        "delete_db_instance",
        changed=True,
        DBInstanceIdentifier=restored.db_identifier,
        SkipFinalSnapshot=True,
        DeleteAutomatedBackups=True,
    )
    delete_bucket(s3, restored.bucket)


def delete_bucket(s3: Any, bucket: str) -> None:
    """A scratch bucket with every version of every object in it."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        if entries:
            objects = [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries]
            call_aws(s3, "delete_objects", changed=True, Bucket=bucket, Delete={"Objects": objects})
    call_aws(s3, "delete_bucket", changed=True, Bucket=bucket)


def check_drillable(live: LiveData) -> None:
    if live.window.latest <= live.window.earliest:
        raise OpsError(f"stack {live.stack!r} has no recovery window yet (its backups have just started)")
