"""Each host's cloud-init, rendered from Pulumi outputs that are known before RDS exists."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from orthweb.config import StackConfig


@dataclass(frozen=True)
class HostUserDataInputs:
    region: pulumi.Input[str]
    db_identifier: pulumi.Input[str]
    dicom_bucket: pulumi.Input[str]
    orthanc_credentials_secret_arn: pulumi.Input[str]
    site_tls_secret_arn: pulumi.Input[str]


class HostUserData:
    def __init__(self, cfg: StackConfig, inputs: HostUserDataInputs) -> None:
        self._cfg = cfg
        self._inputs = inputs

    def for_role(self, role: str) -> pulumi.Output[str]:
        i = self._inputs
        return pulumi.Output.all(
            i.region, i.db_identifier, i.dicom_bucket, i.orthanc_credentials_secret_arn, i.site_tls_secret_arn
        ).apply(lambda values: self._render(role, *values))

    def _render(self, role: str, region: str, db_identifier: str, bucket: str, credentials: str, tls: str) -> str:
        # Placeholder until the application layer lands: names only, never secret values.
        return (
            "#cloud-config\n"
            f"# orthweb {self._cfg.stack} {role}: region={region} db={db_identifier} bucket={bucket}\n"
            f"# secrets: {credentials} {tls}\n"
        )
