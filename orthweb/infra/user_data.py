"""Each host's application: its bundle in the stack's bundle bucket, and the user data that fetches it.

Rendered from Pulumi outputs that are known before RDS exists. The bundle (every file the host
runs) is one content-addressed object; user data is a small bootstrap naming the object and its
SHA-256, which the host checks before using anything in it. A changed bundle is a new object and
new user data, so the host is replaced (an instance; a launch template version, rolled out by the
group's instance refresh).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.config.stack_config import StackConfig
from orthweb.host.context import ANY_ADDRESS, HostAppContext
from orthweb.host.digest import templates_digest
from orthweb.host.render import gzip_base64, render_host
from orthweb.host.sso_context import SsoHostContext
from orthweb.infra.hospital_network import site_address
from orthweb.infra.host_role import HostRole
from orthweb.infra.tags import stack_tags
from orthweb.shared.constants import COMPOSE_SHA256, SCALE_OUT, SECONDARY
from orthweb.shared.sizing import index_connections_for


@dataclass(frozen=True)
class HostUserDataInputs:
    region: pulumi.Input[str]
    db_identifier: pulumi.Input[str]
    dicom_bucket: pulumi.Input[str]
    orthanc_credentials_secret_arn: pulumi.Input[str]
    site_tls_secret_arn: pulumi.Input[str]
    # Where the bundles go: the stack's bundle bucket (SSE-KMS with the stack's key).
    bundle_bucket: pulumi.Input[str]
    bundle_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    # What seals Orthanc's audit lines (the stack's `orthweb-audit-seal`).
    audit_seal: pulumi.Input[str]
    # Sign-in (authentication: sso): where the pool is, never a secret value.
    sign_in: SignInHostInputs | None = None
    # Client certificates (dicomClientCertificates): the secret of what Envoy trusts.
    dicom_client_trust_secret_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class SignInHostInputs:
    user_pool_id: pulumi.Input[str]
    domain: pulumi.Input[str]
    machine_client_id: pulumi.Input[str]
    site_client_secret_arn: pulumi.Input[str]


@dataclass(frozen=True)
class HostBoot:
    """What a host of one role is launched with, and what must exist before it starts."""

    user_data_base64: pulumi.Output[str]
    # The SHA-256 of its bundle (its tag) and where the bundle is (the stack's output).
    bundle_sha256: pulumi.Output[str]
    bundle_uri: pulumi.Output[str]
    # The bundle object and the hosts' permission to read it: a host must not boot before them.
    ready: Sequence[pulumi.Resource]


class HostApplication(pulumi.ComponentResource):
    """The bundle of each host role (one object each) and the hosts' read access to them."""

    boots: dict[str, HostBoot]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        inputs: HostUserDataInputs,
        *,
        roles: Sequence[str],
        readers: HostRole,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("orthweb:index:HostApplication", name, None, opts)
        self._name = name
        self._cfg = cfg
        self._inputs = inputs
        self._child = pulumi.ResourceOptions(parent=self)
        read_grant = readers.allow_bundle_reads(
            bucket_arn=inputs.bundle_bucket_arn, key_arn=inputs.key_arn, region=inputs.region
        )
        self.boots = {role: self._create_boot(role, read_grant) for role in roles}
        self.register_outputs({role: boot.bundle_uri for role, boot in self.boots.items()})

    def for_role(self, role: str) -> HostBoot:
        return self.boots[role]

    def _create_boot(self, role: str, read_grant: pulumi.Resource) -> HostBoot:
        i = self._inputs
        rendered = pulumi.Output.all(
            region=i.region,
            db_identifier=i.db_identifier,
            dicom_bucket=i.dicom_bucket,
            bundle_bucket=i.bundle_bucket,
            orthanc_credentials_secret_arn=i.orthanc_credentials_secret_arn,
            site_tls_secret_arn=i.site_tls_secret_arn,
            audit_seal=i.audit_seal,
            sign_in=pulumi.Output.all(**vars(i.sign_in)) if i.sign_in else None,
            dicom_client_trust_secret_arn=i.dicom_client_trust_secret_arn,
        ).apply(lambda known: render_host(self.context(role, **known)))
        bundle = aws.s3.BucketObjectv2(
            f"{self._name}-{role}-bundle",
            bucket=i.bundle_bucket,
            # The digest names the object: new content is a new object, never an overwrite.
            key=rendered.apply(lambda host: host.bundle.key),
            content_base64=rendered.apply(lambda host: base64.b64encode(host.bundle.archive).decode("ascii")),
            content_type="application/x-tar",
            server_side_encryption="aws:kms",
            kms_key_id=i.key_arn,
            bucket_key_enabled=True,
            tags=stack_tags(self._cfg.stack),
            opts=self._child,
        )
        return HostBoot(
            user_data_base64=rendered.apply(lambda host: gzip_base64(host.user_data)),
            bundle_sha256=rendered.apply(lambda host: host.bundle.sha256),
            bundle_uri=pulumi.Output.concat("s3://", bundle.bucket, "/", bundle.key),
            ready=[bundle, read_grant],
        )

    def context(
        self,
        role: str,
        *,
        region: str,
        db_identifier: str,
        dicom_bucket: str,
        bundle_bucket: str,
        orthanc_credentials_secret_arn: str,
        site_tls_secret_arn: str,
        audit_seal: str,
        sign_in: dict[str, str] | None = None,
        dicom_client_trust_secret_arn: str | None = None,
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
            bundle_bucket=bundle_bucket,
            db_identifier=db_identifier,
            orthanc_credentials_secret_arn=orthanc_credentials_secret_arn,
            site_tls_secret_arn=site_tls_secret_arn,
            audit_seal=audit_seal,
            compose_version=options.compose_version,
            compose_sha256_x86_64=compose_digests.get("x86_64", ""),
            compose_sha256_aarch64=compose_digests.get("aarch64", ""),
            site_name=self._cfg.site_domain or "",
            dicom_modalities=self._cfg.dicom_modalities,
            dicom_client_trust_secret_arn=dicom_client_trust_secret_arn,
            dicom_web=options.dicom_web,
            viewers=options.viewers,
            power_off_after_first_boot=role == SECONDARY and self._cfg.secondary_state == "stopped",
            sso=SsoHostContext.for_cognito(region=region, **sign_in) if sign_in else None,
            plain_dicom_port=self._cfg.hospital_network.dicom_port if self._cfg.hospital_network else None,
            plain_dicom_address=plain_dicom_address(self._cfg),
        )


def plain_dicom_address(cfg: StackConfig) -> str:
    """Where a host publishes plain DICOM: nowhere without a hospital network; every address behind
    the internal load balancer (only its security group is admitted); else the site's private address."""
    if cfg.hospital_network is None:
        return ""
    return ANY_ADDRESS if cfg.topology == SCALE_OUT else site_address(cfg.vpc_cidr)
