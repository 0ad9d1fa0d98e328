"""Where the test instance landed: an object in the DICOM bucket, encrypted with the stack's key."""

from __future__ import annotations

import json

from orthweb.host.layout import APP_DIR
from orthweb.ops.verify.dicom_checks import DicomChecks
from orthweb.ops.verify.model import CheckFailed, StackBackend
from orthweb.ops.verify.target import Target


class StorageChecks:
    def __init__(self, target: Target, backend: StackBackend, dicom: DicomChecks) -> None:
        self.target = target
        self.backend = backend
        self.dicom = dicom

    def object(self) -> str:
        """`storage.object`: the test instance's file is in S3, SSE-KMS with the stack key."""
        deployment = self.target.deployment
        uuid = self.attachment_uuid(self.dicom.orthanc_id)
        bucket = deployment.dicom_bucket
        # AwsS3Storage with StorageStructure "flat": <uuid>.dcm at the bucket root.
        found = self.backend.find_object(bucket, [f"{uuid}.dcm", uuid])
        if found is None:
            raise CheckFailed(
                f"no object {uuid}.dcm in s3://{bucket}",
                f"Orthanc does not store in S3: AwsS3Storage in {APP_DIR}/orthanc.json, the instance role's "
                "s3:PutObject and kms:GenerateDataKey; `docker logs orthweb-orthanc-1-1` on the host",
            )
        key_arn = deployment.key_arn
        key_id = key_arn.rsplit("/", 1)[-1]
        if found.encryption != "aws:kms" or found.kms_key_id not in (key_arn, key_id):
            seen = found.encryption or "none"
            if found.kms_key_id:
                seen += f" with {found.kms_key_id}"
            raise CheckFailed(
                f"s3://{bucket}/{found.key} encrypted {seen}, not aws:kms with {deployment.key_alias}",
                f"the bucket's default encryption must be SSE-KMS with {deployment.key_alias} "
                f"(`aws s3api get-bucket-encryption --bucket {bucket}`); `pulumi up` restores it",
            )
        return f"s3://{bucket}/{found.key} ({found.size} bytes), aws:kms with {deployment.key_alias}"

    def attachment_uuid(self, orthanc_id: str) -> str:
        """The storage UUID of the instance's DICOM file (`.../attachments/dicom/info`, Orthanc 1.12)."""
        path = f"/instances/{orthanc_id}/attachments/dicom/info"
        status, body = self.target.get(path)
        if status == 404:
            raise CheckFailed(
                f"GET {path}: 404; this Orthanc does not report where it stored the file",
                "Orthanc 1.12 or later answers it: check orthancImage in deploymentOptions",
            )
        if status != 200:
            raise self.target.status_failure(f"GET {path}", status, body)
        info = json.loads(body)
        uuid = info.get("Uuid") if isinstance(info, dict) else None
        if not uuid:
            raise CheckFailed(f"GET {path} has no Uuid: {body[:120]!r}", "please report this with the --json output")
        return str(uuid)
