"""Composes the components into the orthweb stack and returns what `__main__.py` exports.

Order matters only where one component names another: the hosts' role exists before the
buckets (whose policy names it); the hosts are created before, and independently of, the
database — they find it at boot — so RDS and EC2 are created in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from orthweb.config import StackConfig
from orthweb.constants import PROJECT, ZONE_SUFFIXES, aws_name
from orthweb.infra import instance_types, policies
from orthweb.infra.app_secrets import AppSecrets, AppSecretsArgs
from orthweb.infra.database import Database, DatabaseArgs
from orthweb.infra.encryption_key import EncryptionKey, EncryptionKeyArgs
from orthweb.infra.host_role import HostRole, HostRoleArgs
from orthweb.infra.hosts import Hosts, HostsArgs
from orthweb.infra.network import Network, NetworkArgs
from orthweb.infra.site_certificate import SiteCertificate, SiteCertificateArgs
from orthweb.infra.storage import Storage, StorageArgs
from orthweb.infra.user_data import HostUserData, HostUserDataInputs

AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"


@dataclass(frozen=True)
class Exports:
    site_address: pulumi.Output[str]
    host_info: pulumi.Output[dict[str, str]]
    s3_bucket: pulumi.Output[str]
    db_endpoint: pulumi.Output[str]
    site_ip: pulumi.Output[str]
    region: pulumi.Output[str]
    site_tls_secret_arn: pulumi.Output[str]
    orthanc_credentials_secret_arn: pulumi.Output[str]

    def as_dict(self) -> dict[str, pulumi.Output]:
        return dict(self.__dict__)


def build_stack(cfg: StackConfig) -> Exports:
    name = PROJECT
    production = cfg.is_production
    caller = aws.get_caller_identity_output()
    partition = aws.get_partition_output().partition
    region = aws.get_region_output().region
    # The first AZs (one per zone suffix) that need no opt-in (local and wavelength zones do).
    zones = aws.get_availability_zones_output(
        state="available",
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
    ).names.apply(lambda names: sorted(names)[: len(ZONE_SUFFIXES)])

    key = EncryptionKey(
        f"{name}-encryption",
        EncryptionKeyArgs(
            stack=cfg.stack,
            account_id=caller.account_id,
            partition=partition,
            region=region,
            deletion_window_days=30 if production else 7,
        ),
    )
    host_role = HostRole(f"{name}-host-identity", HostRoleArgs(stack=cfg.stack, partition=partition))
    storage = Storage(
        f"{name}-storage",
        StorageArgs(
            stack=cfg.stack,
            key_arn=key.arn,
            account_id=caller.account_id,
            allowed_principal_arns=pulumi.Output.all(hosts=host_role.arn, deployer=caller.arn).apply(
                lambda arns: [arns["hosts"], policies.role_arn_of_caller(arns["deployer"])]
            ),
            log_retention_days=cfg.options.log_retention_days,
            force_destroy=not production,
        ),
    )
    network = Network(
        f"{name}-network",
        NetworkArgs(
            stack=cfg.stack,
            vpc_cidr=cfg.vpc_cidr,
            availability_zones=zones,
            region=region,
            flow_log_bucket_arn=storage.log_bucket.arn,
        ),
    )
    secrets = AppSecrets(
        f"{name}-secrets",
        AppSecretsArgs(stack=cfg.stack, key_arn=key.arn, recovery_window_days=30 if production else 0),
    )
    # Known before RDS exists: the hosts look the database up by this identifier at boot.
    db_suffix = random.RandomString(f"{name}-db-suffix", length=6, special=False, upper=False)
    db_identifier = pulumi.Output.concat(f"{aws_name(cfg.stack)}-", db_suffix.result)

    user_data = HostUserData(
        cfg,
        HostUserDataInputs(
            region=region,
            db_identifier=db_identifier,
            dicom_bucket=storage.dicom_bucket.bucket,
            orthanc_credentials_secret_arn=secrets.orthanc_credentials_arn,
            site_tls_secret_arn=secrets.site_tls_arn,
        ),
    )
    architecture = instance_types.architecture(cfg.options.instance_type)
    ami = aws.ssm.get_parameter_output(name=AL2023_AMI_PARAMETER.format(arch=architecture))
    hosts = Hosts(
        f"{name}-hosts",
        HostsArgs(
            stack=cfg.stack,
            vpc_id=network.vpc.id,
            vpc_cidr=cfg.vpc_cidr,
            subnet_ids=network.public_subnet_ids,
            instance_type=cfg.options.instance_type,
            ami_id=ami.value,
            instance_profile=host_role.instance_profile.name,
            key_arn=key.arn,
            root_volume_gb=cfg.options.root_volume_gb,
            web_allowed_cidrs=cfg.web_allowed_cidrs,
            dicom_allowed_cidrs=cfg.dicom_allowed_cidrs,
            user_data_base64=user_data.for_role,
            public_key=cfg.public_key,
            secondary_state=cfg.secondary_state,
        ),
    )
    site_dns = hosts.site_ip.public_dns
    site_address = pulumi.Output.from_input(cfg.site_domain) if cfg.site_domain else site_dns
    SiteCertificate(
        f"{name}-site-certificate",
        SiteCertificateArgs(
            secret_id=secrets.site_tls_secret.id,
            # The site's name first (it becomes the common name), then the EIP's DNS name if different.
            dns_names=pulumi.Output.all(site=site_address, eip=site_dns).apply(
                lambda names: list(dict.fromkeys([names["site"], names["eip"]]))
            ),
            ip_addresses=hosts.site_ip.public_ip.apply(lambda ip: [ip]),
            user_certificate=cfg.site_certificate,
        ),
    )
    database = Database(
        f"{name}-database",
        DatabaseArgs(
            stack=cfg.stack,
            identifier=db_identifier,
            vpc_id=network.vpc.id,
            subnet_ids=network.private_subnet_ids,
            client_security_group_id=hosts.security_group.id,
            key_arn=key.arn,
            instance_class=cfg.options.db_instance_class,
            engine_major=cfg.options.db_engine_version,
            storage_gb=cfg.options.db_storage_gb,
            max_storage_gb=cfg.options.db_max_storage_gb,
            production=production,
            log_retention_days=cfg.options.log_retention_days,
        ),
    )
    host_role.grant(
        pulumi.Output.all(
            credentials_secret=secrets.orthanc_credentials_arn,
            site_tls_secret=secrets.site_tls_arn,
            db_master_secret=database.master_secret_arn,
            dicom_bucket_arn=storage.dicom_bucket.arn,
            key_arn=key.arn,
            db_arn=database.instance.arn,
            region=region,
        ).apply(
            lambda v: policies.to_json(
                policies.host_permissions(
                    secret_arns=[
                        arn for arn in (v["credentials_secret"], v["site_tls_secret"], v["db_master_secret"]) if arn
                    ],
                    dicom_bucket_arn=v["dicom_bucket_arn"],
                    key_arn=v["key_arn"],
                    db_arn=v["db_arn"],
                    region=v["region"],
                )
            )
        )
    )
    return Exports(
        site_address=site_address,
        host_info=pulumi.Output.all(**{role: instance.id for role, instance in hosts.instances.items()}),
        s3_bucket=storage.dicom_bucket.bucket_domain_name,
        db_endpoint=database.endpoint,
        site_ip=hosts.site_ip.public_ip,
        region=region,
        site_tls_secret_arn=secrets.site_tls_arn,
        orthanc_credentials_secret_arn=secrets.orthanc_credentials_arn,
    )
