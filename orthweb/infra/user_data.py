"""Each host's cloud-init, rendered from Pulumi outputs that are known before RDS exists."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from orthweb.config import StackConfig
from orthweb.constants import COMPOSE_SHA256, SECONDARY
from orthweb.host.context import HostAppContext
from orthweb.host.digest import templates_digest
from orthweb.host.render import render_user_data_gzip_base64
from orthweb.host.sso_context import SsoHostContext
from orthweb.sizing import index_connections_for


@dataclass(frozen=True)
class HostUserDataInputs:
    region: pulumi.Input[str]
    db_identifier: pulumi.Input[str]
    dicom_bucket: pulumi.Input[str]
    orthanc_credentials_secret_arn: pulumi.Input[str]
    site_tls_secret_arn: pulumi.Input[str]
    # Sign-in (authentication: sso): where the pool is, never a secret value.
    sign_in: SignInHostInputs | None = None


@dataclass(frozen=True)
class SignInHostInputs:
    user_pool_id: pulumi.Input[str]
    domain: pulumi.Input[str]
    machine_client_id: pulumi.Input[str]
    site_client_secret_arn: pulumi.Input[str]


class HostUserData:
    """Renders `templates/` into gzipped cloud-init for one host role (names and ARNs only)."""

    def __init__(self, cfg: StackConfig, inputs: HostUserDataInputs) -> None:
        self._cfg = cfg
        self._inputs = inputs

    def for_role(self, role: str) -> pulumi.Output[str]:
        i = self._inputs
        return pulumi.Output.all(
            region=i.region,
            db_identifier=i.db_identifier,
            dicom_bucket=i.dicom_bucket,
            orthanc_credentials_secret_arn=i.orthanc_credentials_secret_arn,
            site_tls_secret_arn=i.site_tls_secret_arn,
            sign_in=pulumi.Output.all(**vars(i.sign_in)) if i.sign_in else None,
        ).apply(lambda known: render_user_data_gzip_base64(self.context(role, **known)))

    def context(
        self,
        role: str,
        *,
        region: str,
        db_identifier: str,
        dicom_bucket: str,
        orthanc_credentials_secret_arn: str,
        site_tls_secret_arn: str,
        sign_in: dict[str, str] | None = None,
    ) -> HostAppContext:
        options = self._cfg.options
        # A release without a pinned digest is checked against its own published checksum file.
        compose_digests = COMPOSE_SHA256.get(options.compose_version, {})
        return HostAppContext(
            host_role=role,
            stack=self._cfg.stack,
            region=region,
            templates_digest=templates_digest(),
            orthanc_image=options.orthanc_image,
            envoy_image=options.envoy_image,
            orthanc_replicas=options.orthanc_replicas,
            index_connections=index_connections_for(
                # Every host that may run at once: both failover hosts, or the scaling group's maximum.
                options.db_instance_class,
                replicas_per_host=options.orthanc_replicas,
                hosts=self._cfg.database_hosts,
            ),
            dicom_bucket=dicom_bucket,
            db_identifier=db_identifier,
            orthanc_credentials_secret_arn=orthanc_credentials_secret_arn,
            site_tls_secret_arn=site_tls_secret_arn,
            compose_version=options.compose_version,
            compose_sha256_x86_64=compose_digests.get("x86_64", ""),
            compose_sha256_aarch64=compose_digests.get("aarch64", ""),
            site_name=self._cfg.site_domain or "",
            dicom_modalities=self._cfg.dicom_modalities,
            dicom_web=options.dicom_web,
            viewers=options.viewers,
            power_off_after_first_boot=role == SECONDARY and self._cfg.secondary_state == "stopped",
            sso=SsoHostContext.for_cognito(region=region, **sign_in) if sign_in else None,
        )
