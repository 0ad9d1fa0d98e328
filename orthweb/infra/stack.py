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

from orthweb.config.stack_config import StackConfig
from orthweb.infra import instance_types, principals
from orthweb.infra.app_secrets import AppSecrets, AppSecretsArgs
from orthweb.infra.audit_log_group import AuditLogGroup, AuditLogGroupArgs
from orthweb.infra.audit_trail import AuditTrail, AuditTrailArgs
from orthweb.infra.autoscaling_role import AutoScalingRole, AutoScalingRoleArgs
from orthweb.infra.backup import Backup, BackupArgs
from orthweb.infra.database import DB_ENGINE, DB_STORAGE_TYPE, Database, DatabaseArgs
from orthweb.infra.dicom_client_certificates import DicomClientCertificates, DicomClientCertificatesArgs
from orthweb.infra.encryption_key import EncryptionKey, EncryptionKeyArgs
from orthweb.infra.hospital_network import plain_dicom_destinations
from orthweb.infra.host_launch import HostLaunch
from orthweb.infra.host_role import HostAccess, HostRole, HostRoleArgs
from orthweb.infra.hosts import Hosts, HostsArgs
from orthweb.infra.monitoring import Monitoring, MonitoringArgs
from orthweb.infra.network import Network, NetworkArgs
from orthweb.infra.serving import Serving, create_scale_out, failover_serving
from orthweb.infra.sign_in import SignIn, SignInArgs
from orthweb.infra.site_certificate import SiteCertificate, SiteCertificateArgs
from orthweb.infra.storage import Storage, StorageArgs
from orthweb.infra.user_data import HostApplication, HostUserDataInputs
from orthweb.infra.vpn import HospitalVpn, HospitalVpnArgs
from orthweb.infra.zones import usable_zones
from orthweb.shared import telemetry
from orthweb.shared.constants import (
    GROUP_MEMBER,
    HOST_ROLES,
    PROJECT,
    SCALE_OUT,
    TLS_AT_LOAD_BALANCER,
    ZONE_SUFFIXES,
    aws_name,
)

# Component names start with the project's: `orthweb-network`, `orthweb-hosts-primary`, ...
NAME = PROJECT
AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"


@dataclass(frozen=True)
class Exports:
    site_address: pulumi.Output[str]
    host_info: pulumi.Output[dict[str, str]]
    s3_bucket: pulumi.Output[str]
    db_endpoint: pulumi.Output[str]
    # The fixed public addresses: the Elastic IP, or the load balancer's one per zone.
    site_ips: pulumi.Output[list[str]]
    # Host role -> the S3 URI of the bundle it runs (its digest is in the name and the host's tag).
    host_bundles: pulumi.Output[dict[str, str]]
    region: pulumi.Output[str]
    site_tls_secret_arn: pulumi.Output[str]
    orthanc_credentials_secret_arn: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]
    # The AWS Backup vault holding the continuous backups `orthweb restore` restores from.
    backup_vault: pulumi.Output[str]
    # CloudTrail's log files of every read and write of DICOM objects, locked against deletion.
    audit_bucket: pulumi.Output[str]
    # With `authentication: sso`: the host of Cognito's sign-in pages.
    sign_in_domain: pulumi.Output[str] | None = None
    # The failover topology's Elastic IP (scale-out has one address per zone: site_ips).
    site_ip: pulumi.Output[str] | None = None

    def as_dict(self) -> dict[str, pulumi.Output]:
        return {name: value for name, value in self.__dict__.items() if value is not None}


@dataclass(frozen=True)
class _Target:
    """Where the stack deploys: the account, its partition and region, and the zones used."""

    account_id: pulumi.Output[str]
    partition: pulumi.Output[str]
    region: pulumi.Output[str]
    zones: pulumi.Output[list[str]]
    # EC2's description of the hosts' instance type (architectures, whether EC2 can recover it).
    host_type: pulumi.Output[aws.ec2.GetInstanceTypeResult]
    # A restored stack's data key: the one the source database (and so its restore) is encrypted
    # with, which also encrypts the adopted DICOM bucket; None for a stack of its own data.
    data_key_arn: pulumi.Output[str] | None = None


def build_stack(cfg: StackConfig) -> Exports:
    target = _look_up_target(cfg)
    # Known before RDS exists: the hosts look the database up by this identifier at boot.
    db_suffix = random.RandomString(f"{NAME}-db-suffix", length=6, special=False, upper=False)
    db_identifier = pulumi.Output.concat(f"{aws_name(cfg.stack)}-", db_suffix.result)
    # Seals Orthanc's audit lines: in the hosts' Lua filter and the audit copy's filter pattern only.
    audit_seal = random.RandomString(
        f"{NAME}-audit-seal", length=telemetry.AUDIT_SEAL_LENGTH, special=False, upper=False
    ).result
    # The key must name the group's launch role, so the role comes first.
    launch_role = (
        AutoScalingRole(f"{NAME}-autoscaling", AutoScalingRoleArgs(stack=cfg.stack))
        if cfg.topology == SCALE_OUT
        else None
    )
    key = _create_encryption_key(cfg, target, db_identifier, launch_role)
    host_role = HostRole(f"{NAME}-host-identity", HostRoleArgs(stack=cfg.stack, partition=target.partition))
    storage = _create_storage(cfg, target, key, host_role)
    network = _create_network(cfg, target, storage)
    secrets = _create_app_secrets(cfg, key)
    sign_in = _create_sign_in(cfg, target, key) if cfg.sso else None
    dicom_clients = _create_dicom_client_certificates(cfg, key) if cfg.dicom_client_certificates else None
    user_data = _create_host_application(
        cfg, target, db_identifier, key, host_role, storage, secrets, sign_in, dicom_clients, audit_seal
    )
    launch = _host_launch(cfg, target, network, host_role, key, user_data)
    vpn = _create_hospital_vpn(cfg, network) if cfg.hospital_network else None
    if launch_role is not None:
        serving = create_scale_out(cfg, launch, launch_role.arn, storage, network.private_subnet_ids)
    else:
        hosts = _create_hosts(cfg, launch)
        if vpn is not None:
            vpn.route_site_to(target.zones.apply(lambda zones: zones[0]), hosts.site_interface())
        serving = failover_serving(cfg, hosts)
    site_address = _create_site_certificate(cfg, secrets, serving)
    if sign_in is not None:
        sign_in.connect_site(site_address)
    database = _create_database(cfg, target, db_identifier, network, serving, key)
    backup = _create_backup(cfg, target, key, database, storage)
    audit = _create_audit_trail(cfg, target, key, storage)
    monitoring = _create_monitoring(cfg, target, key, serving, db_identifier, vpn)
    _create_audit_log_group(cfg, target, key, audit, monitoring, audit_seal)
    _grant_access(host_role, network, secrets, database, storage, key, monitoring, target, sign_in, dicom_clients)
    return Exports(
        site_address=site_address,
        host_info=serving.host_info,
        s3_bucket=storage.dicom_bucket.bucket_domain_name,
        db_endpoint=database.endpoint,
        site_ips=serving.site_ips,
        host_bundles=pulumi.Output.all(**{role: boot.bundle_uri for role, boot in user_data.boots.items()}),
        site_ip=serving.site_ip,
        region=target.region,
        site_tls_secret_arn=secrets.site_tls_arn,
        orthanc_credentials_secret_arn=secrets.orthanc_credentials_arn,
        dashboard_name=monitoring.dashboard_name,
        backup_vault=backup.vault.name,
        audit_bucket=audit.bucket.bucket,
        sign_in_domain=sign_in.domain if sign_in else None,
    )


def _create_host_application(
    cfg: StackConfig,
    target: _Target,
    db_identifier: pulumi.Output[str],
    key: EncryptionKey,
    host_role: HostRole,
    storage: Storage,
    secrets: AppSecrets,
    sign_in: SignIn | None,
    dicom_clients: DicomClientCertificates | None,
    audit_seal: pulumi.Output[str],
) -> HostApplication:
    """Each host role's bundle, and the user data that fetches it (names and ARNs only)."""
    return HostApplication(
        f"{NAME}-host-application",
        cfg,
        HostUserDataInputs(
            region=target.region,
            db_identifier=db_identifier,
            dicom_bucket=storage.dicom_bucket.bucket,
            orthanc_credentials_secret_arn=secrets.orthanc_credentials_arn,
            site_tls_secret_arn=secrets.site_tls_arn,
            bundle_bucket=storage.host_bundle_bucket.bucket,
            bundle_bucket_arn=storage.host_bundle_bucket.arn,
            key_arn=key.arn,
            audit_seal=audit_seal,
            sign_in=sign_in.host_inputs() if sign_in else None,
            dicom_client_trust_secret_arn=dicom_clients.trust_secret_arn if dicom_clients else None,
        ),
        roles=(GROUP_MEMBER,) if cfg.topology == SCALE_OUT else HOST_ROLES,
        readers=host_role,
    )


def _look_up_target(cfg: StackConfig) -> _Target:
    caller = aws.get_caller_identity_output()
    # One zone per zone suffix, each offering the host type and the database class.
    zones = usable_zones(
        instance_type=cfg.options.instance_type,
        db_instance_class=cfg.options.db_instance_class,
        db_engine=DB_ENGINE,
        db_engine_major=cfg.options.db_engine_version,
        db_storage_type=DB_STORAGE_TYPE,
        count=len(ZONE_SUFFIXES),
    )
    return _Target(
        account_id=caller.account_id,
        partition=aws.get_partition_output().partition,
        region=aws.get_region_output().region,
        zones=zones,
        host_type=aws.ec2.get_instance_type_output(instance_type=cfg.options.instance_type),
        # RDS keeps the source's key for a restore (RestoreDBInstanceToPointInTime takes none).
        data_key_arn=aws.rds.get_instance_output(db_instance_identifier=cfg.restore_from.database).kms_key_id
        if cfg.restore_from
        else None,
    )


def _create_encryption_key(
    cfg: StackConfig, target: _Target, db_identifier: pulumi.Output[str], launch_role: AutoScalingRole | None
) -> EncryptionKey:
    return EncryptionKey(
        f"{NAME}-encryption",
        EncryptionKeyArgs(
            stack=cfg.stack,
            account_id=target.account_id,
            partition=target.partition,
            region=target.region,
            durability=cfg.durability,
            db_identifier=db_identifier,
            launch_role_arn=launch_role.arn if launch_role else None,
            data_key_arn=target.data_key_arn,
        ),
    )


def _create_storage(cfg: StackConfig, target: _Target, key: EncryptionKey, host_role: HostRole) -> Storage:
    admins = principals.admin_principal_arns(cfg.admin_principal_arns)
    return Storage(
        f"{NAME}-storage",
        StorageArgs(
            stack=cfg.stack,
            key_arn=key.arn,
            adopted_dicom_bucket=cfg.restore_from.bucket if cfg.restore_from else None,
            data_key_arn=target.data_key_arn,
            account_id=target.account_id,
            # The hosts and the admins (by default whoever deploys) may touch DICOM objects.
            allowed_principal_arns=pulumi.Output.all(hosts=host_role.arn, admins=admins).apply(
                lambda arns: [arns["hosts"], *arns["admins"]]
            ),
            admin_principal_arns=admins,
            log_retention_days=cfg.options.log_retention_days,
            durability=cfg.durability,
            # Old versions outlive the backup window by a day: a restore may read them instead.
            noncurrent_version_days=cfg.options.backup_retention_days + 1,
            transition_days=cfg.options.storage_transition_days,
            storage_class=cfg.options.storage_class,
            # The load balancer writes access logs with TLS listeners only.
            load_balancer_logs=cfg.tls_ends_at == TLS_AT_LOAD_BALANCER,
        ),
    )


def _create_audit_trail(cfg: StackConfig, target: _Target, key: EncryptionKey, storage: Storage) -> AuditTrail:
    return AuditTrail(
        f"{NAME}-audit",
        AuditTrailArgs(
            stack=cfg.stack,
            key_arn=key.arn,
            account_id=target.account_id,
            partition=target.partition,
            region=target.region,
            dicom_bucket_arn=storage.dicom_bucket.arn,
            durability=cfg.durability,
        ),
    )


def _create_audit_log_group(
    cfg: StackConfig,
    target: _Target,
    key: EncryptionKey,
    audit: AuditTrail,
    monitoring: Monitoring,
    audit_seal: pulumi.Output[str],
) -> AuditLogGroup:
    sources = (telemetry.ENVOY_LOGS, telemetry.ORTHANC_LOGS)
    return AuditLogGroup(
        f"{NAME}-audit-lines",
        AuditLogGroupArgs(
            stack=cfg.stack,
            key_arn=key.arn,
            account_id=target.account_id,
            region=target.region,
            bucket_name=audit.bucket.bucket,
            bucket_arn=audit.bucket.arn,
            sources={component: monitoring.log_groups[component] for component in sources},
            audit_seal=audit_seal,
            durability=cfg.durability,
            log_retention_days=cfg.options.log_retention_days,
        ),
    )


def _create_network(cfg: StackConfig, target: _Target, storage: Storage) -> Network:
    return Network(
        f"{NAME}-network",
        NetworkArgs(
            stack=cfg.stack,
            vpc_cidr=cfg.vpc_cidr,
            availability_zones=target.zones,
            region=target.region,
            flow_log_bucket_arn=storage.log_bucket.arn,
            durability=cfg.durability,
            secrets_manager_endpoint=cfg.options.secrets_manager_endpoint,
            flow_log_waits_for=[storage.log_bucket_policy],
        ),
    )


def _create_hospital_vpn(cfg: StackConfig, network: Network) -> HospitalVpn:
    assert cfg.hospital_network is not None
    return HospitalVpn(
        f"{NAME}-hospital-vpn",
        HospitalVpnArgs(
            stack=cfg.stack,
            vpc_id=network.vpc.id,
            vpc_cidr=cfg.vpc_cidr,
            hospital=cfg.hospital_network,
            route_table_ids=network.route_table_ids,
            destinations=plain_dicom_destinations(cfg.vpc_cidr, scale_out=cfg.topology == SCALE_OUT),
        ),
    )


def _current_ami(cfg: StackConfig) -> pulumi.Output[str]:
    architecture = instance_types.architecture(cfg.options.instance_type)
    return aws.ssm.get_parameter_output(name=AL2023_AMI_PARAMETER.format(arch=architecture)).value


def _host_launch(
    cfg: StackConfig,
    target: _Target,
    network: Network,
    host_role: HostRole,
    key: EncryptionKey,
    user_data: HostApplication,
) -> HostLaunch:
    """How every host is launched, in either topology."""
    return HostLaunch(
        stack=cfg.stack,
        vpc_id=network.vpc.id,
        vpc_cidr=cfg.vpc_cidr,
        subnet_ids=network.public_subnet_ids,
        instance_type=cfg.options.instance_type,
        instance_architectures=target.host_type.supported_architectures,
        current_ami_id=_current_ami(cfg),
        instance_profile=host_role.instance_profile.name,
        key_arn=key.arn,
        root_volume_gb=cfg.options.root_volume_gb,
        boot=user_data.for_role,
        public_key=cfg.public_key,
        pinned_ami_id=cfg.options.ami_id,
        dicom_modalities=cfg.dicom_modalities,
    )


def _create_hosts(cfg: StackConfig, launch: HostLaunch) -> Hosts:
    return Hosts(
        f"{NAME}-hosts",
        HostsArgs(
            launch=launch,
            web_allowed_cidrs=cfg.web_allowed_cidrs,
            dicom_allowed_cidrs=cfg.dicom_allowed_cidrs,
            secondary_state=cfg.secondary_state,
            hospital=cfg.hospital_network,
        ),
    )


def _create_app_secrets(cfg: StackConfig, key: EncryptionKey) -> AppSecrets:
    return AppSecrets(
        f"{NAME}-secrets",
        AppSecretsArgs(stack=cfg.stack, key_arn=key.arn, durability=cfg.durability),
    )


def _create_sign_in(cfg: StackConfig, target: _Target, key: EncryptionKey) -> SignIn:
    assert cfg.sso is not None
    return SignIn(
        f"{NAME}-sign-in",
        SignInArgs(
            stack=cfg.stack,
            region=target.region,
            admin_emails=cfg.sso.admin_emails,
            domain_prefix=cfg.sso.domain_prefix,
            key_arn=key.arn,
            durability=cfg.durability,
        ),
    )


def _create_dicom_client_certificates(cfg: StackConfig, key: EncryptionKey) -> DicomClientCertificates:
    return DicomClientCertificates(
        f"{NAME}-dicom-clients",
        DicomClientCertificatesArgs(
            stack=cfg.stack,
            modalities=cfg.dicom_modalities,
            key_arn=key.arn,
            durability=cfg.durability,
            # The administrators read the modalities' certificates; the hosts never need them.
            reader_arns=principals.admin_principal_arns(cfg.admin_principal_arns),
        ),
    )


def _create_site_certificate(cfg: StackConfig, secrets: AppSecrets, serving: Serving) -> pulumi.Output[str]:
    """Fills the site TLS secret; returns the site's address (its domain, else the public DNS name)."""
    SiteCertificate(
        f"{NAME}-site-certificate",
        SiteCertificateArgs(
            secret_id=secrets.site_tls_secret.id,
            # The site's address first (it becomes the common name), then the public DNS name if different.
            dns_names=pulumi.Output.all(site=serving.site_address, public=serving.public_dns_name).apply(
                lambda names: list(dict.fromkeys([names["site"], names["public"]]))
            ),
            ip_addresses=serving.site_ips,
            user_certificate=cfg.site_certificate,
        ),
    )
    return serving.site_address


def _create_database(
    cfg: StackConfig,
    target: _Target,
    db_identifier: pulumi.Output[str],
    network: Network,
    serving: Serving,
    key: EncryptionKey,
) -> Database:
    return Database(
        f"{NAME}-database",
        DatabaseArgs(
            stack=cfg.stack,
            identifier=db_identifier,
            vpc_id=network.vpc.id,
            subnet_ids=network.private_subnet_ids,
            client_security_group_id=serving.client_security_group_id,
            key_arn=key.arn,
            instance_class=cfg.options.db_instance_class,
            engine_major=cfg.options.db_engine_version,
            storage_gb=cfg.options.db_storage_gb,
            max_storage_gb=cfg.options.db_max_storage_gb,
            durability=cfg.durability,
            log_retention_days=cfg.options.log_retention_days,
            restore_from=cfg.restore_from,
            data_key_arn=target.data_key_arn,
        ),
    )


def _create_monitoring(
    cfg: StackConfig,
    target: _Target,
    key: EncryptionKey,
    serving: Serving,
    db_identifier: pulumi.Output[str],
    vpn: HospitalVpn | None,
) -> Monitoring:
    return Monitoring(
        f"{NAME}-monitoring",
        MonitoringArgs(
            stack=cfg.stack,
            account_id=target.account_id,
            partition=target.partition,
            region=target.region,
            key_arn=key.arn,
            log_retention_days=cfg.options.log_retention_days,
            alarm_emails=cfg.alarm_emails,
            hosts=serving.hosts_to_watch,
            # Failover hosts are recovered in place; the scaling group replaces its hosts itself.
            recover_hosts=cfg.topology != SCALE_OUT,
            recovery_supported=target.host_type.auto_recovery_supported.apply(lambda supported: supported is True),
            load_balancer=serving.load_balancer_to_watch,
            group_name=serving.group_name,
            orthanc_replicas=cfg.options.orthanc_replicas,
            db_identifier=db_identifier,
            db_instance_class=cfg.options.db_instance_class,
            db_storage_gb=cfg.options.db_storage_gb,
            vpn_id=vpn.connection.id if vpn else None,
        ),
    )


def _create_backup(
    cfg: StackConfig, target: _Target, key: EncryptionKey, database: Database, storage: Storage
) -> Backup:
    return Backup(
        f"{NAME}-backup",
        BackupArgs(
            stack=cfg.stack,
            key_arn=key.arn,
            partition=target.partition,
            account_id=target.account_id,
            db_arn=database.instance.arn,
            dicom_bucket_arn=storage.dicom_bucket.arn,
            durability=cfg.durability,
            copy_region=cfg.options.backup_copy_region,
            data_key_arn=target.data_key_arn,
        ),
    )


def _grant_access(
    host_role: HostRole,
    network: Network,
    secrets: AppSecrets,
    database: Database,
    storage: Storage,
    key: EncryptionKey,
    monitoring: Monitoring,
    target: _Target,
    sign_in: SignIn | None,
    dicom_clients: DicomClientCertificates | None,
) -> None:
    """What the hosts use (their secret reads bound to the Secrets Manager endpoint when there is
    one), and the secrets that endpoint lets through."""
    network.admit_secrets(_stack_secret_arns(secrets, database, sign_in, dicom_clients), target.account_id)
    host_role.allow(
        HostAccess(
            secret_arns=[
                secrets.orthanc_credentials_arn,
                secrets.site_tls_arn,
                database.master_secret_arn,
                sign_in.site_client_secret_arn if sign_in else "",
                dicom_clients.trust_secret_arn if dicom_clients else "",
            ],
            dicom_bucket_arn=storage.dicom_bucket.arn,
            key_arn=key.arn,
            db_arn=database.instance.arn,
            region=target.region,
            log_group_arns=[group.arn for group in monitoring.log_groups.values()],
            secrets_endpoint_id=network.secrets_endpoint_id,
            data_key_arn=target.data_key_arn,
        )
    )


def _stack_secret_arns(
    secrets: AppSecrets, database: Database, sign_in: SignIn | None, dicom_clients: DicomClientCertificates | None
) -> pulumi.Output[list[str]]:
    """Every secret of the stack: what the hosts read, and what operators read (the machine client,
    the modalities' client certificates)."""
    return pulumi.Output.all(
        secrets.orthanc_credentials_arn,
        secrets.site_tls_arn,
        database.master_secret_arn,
        *((sign_in.site_client_secret_arn, sign_in.machine_client_secret_arn) if sign_in else ()),
        *((dicom_clients.trust_secret_arn, dicom_clients.secret_arn) if dicom_clients else ()),
    ).apply(lambda arns: [arn for arn in arns if arn])
