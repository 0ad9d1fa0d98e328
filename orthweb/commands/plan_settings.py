"""The Settings block of `orthweb plan`: every effective setting, each row naming the config keys
it shows (a test holds that together they name every key of the table), and with `siteDomain`
the DNS record the user must create when the stack does not publish it."""

from __future__ import annotations

from orthweb.config.stack_config import StackConfig
from orthweb.evaluate import Evaluation
from orthweb.evaluate.ec2_types import recorded_types
from orthweb.infra.hospital_network import plain_dicom_destinations
from orthweb.shared import sso, telemetry
from orthweb.shared.constants import DICOM_TLS_PORT, FAILOVER, HTTPS_PORT, SCALE_OUT
from orthweb.shared.restore_point import moment_text

# One row: its label, the value shown, and the config keys (or options) it shows.
Row = tuple[str, str, tuple[str, ...]]
_HOST_KEYS = (
    "instanceType",
    "rootVolumeGb",
    "secondaryState",
    "groupSize",
    "groupMinSize",
    "groupMaxSize",
    "cpuTargetPercent",
)
# What `plan` assumes when the stack names no region (the offline evaluation assumes it too).
DEFAULT_REGION = "us-east-1"


def settings_rows(evaluation: Evaluation) -> list[Row]:
    cfg = evaluation.config
    return [
        ("stack / environment", f"{evaluation.stack} / {cfg.environment}", ("environment",)),
        ("region", cfg.region or f"from the AWS provider's default (offline: {DEFAULT_REGION})", ("aws:region",)),
        *_network_rows(cfg),
        *_site_rows(evaluation),
        *_host_rows(evaluation),
        *_data_rows(cfg),
    ]


def _network_rows(cfg: StackConfig) -> list[Row]:
    modalities = ", ".join(modality.spec for modality in cfg.dicom_modalities) or "none: DICOM refuses every caller"
    how = "by client certificate and AE title" if cfg.dicom_client_certificates else "by AE title"
    return [
        ("VPC", f"{cfg.vpc_cidr} over 2 AZs", ("vpcCidr",)),
        (f"HTTPS {HTTPS_PORT} from", ", ".join(cfg.web_allowed_cidrs), ("webAllowedCidrs",)),
        (f"DICOM-TLS {DICOM_TLS_PORT} from", ", ".join(cfg.dicom_allowed_cidrs), ("dicomAllowedCidrs",)),
        (
            "DICOM modalities",
            f"{modalities} ({how})" if cfg.dicom_modalities else modalities,
            ("dicomModalities", "dicomClientCertificates"),
        ),
        ("plain DICOM (hospital VPN)", _hospital(cfg), ("hospitalNetwork",)),
    ]


def _hospital(cfg: StackConfig) -> str:
    hospital = cfg.hospital_network
    if hospital is None:
        return "none: DICOM only over TLS (no hospitalNetwork)"
    routing = "static routes" if hospital.static_routing else f"BGP, device ASN {hospital.bgp_asn}"
    where = ", ".join(plain_dicom_destinations(cfg.vpc_cidr, scale_out=cfg.topology == SCALE_OUT))
    return (
        f"port {hospital.dicom_port} at {where}, from {', '.join(hospital.cidrs)} only, through a Site-to-Site "
        f"VPN to {hospital.vpn_device_address} ({routing})"
    )


def _site_rows(evaluation: Evaluation) -> list[Row]:
    cfg = evaluation.config
    rows: list[Row] = [
        ("site name", cfg.site_domain or "AWS's name for the site (no siteDomain): see site_address", ("siteDomain",)),
    ]
    if cfg.site_domain:
        rows.append(("DNS record", dns_record(evaluation), ("hostedZoneId",)))
    rows += [
        (
            "site certificate",
            "user-supplied" if cfg.site_certificate else "self-signed, generated",
            ("siteCertificate", "siteCertificateKey"),
        ),
        ("sign-in", _sign_in(cfg), ("authentication", "ssoAdminEmails", "ssoDomainPrefix")),
    ]
    return rows


def dns_record(evaluation: Evaluation) -> str:
    """The record that makes `siteDomain` reach the site: published by the stack with a hosted zone,
    else one the user creates, pointing at the name AWS gives the site (an example offline)."""
    cfg = evaluation.config
    if cfg.hosted_zone_id:
        return f"published by the stack in Route53 zone {cfg.hosted_zone_id} (an alias to the load balancer)"
    if cfg.topology == SCALE_OUT:
        target = next((r.state.get("dnsName") for r in evaluation.of_type("aws:lb/loadBalancer:LoadBalancer")), None)
        named = "the load balancer's name"
    else:
        target = next((r.state.get("publicDns") for r in evaluation.of_type("aws:ec2/eip:Eip")), None)
        named = "the Elastic IP's name"
    return (
        f"create it yourself: {cfg.site_domain} CNAME {target or named} ({named}; offline an example, "
        "`pulumi stack output` shows the real one after `pulumi up`)"
    )


def _sign_in(cfg: StackConfig) -> str:
    if cfg.sso is None:
        return f"{sso.BASIC}: Orthanc's own generated credential (in Secrets Manager)"
    prefix = cfg.sso.domain_prefix or f"{sso.default_prefix_start(cfg.stack)}<random>"
    admins = ", ".join(cfg.sso.admin_emails)
    return f"{sso.SSO}: Amazon Cognito at {prefix}.auth.<region>.amazoncognito.com; admins {admins}"


def _host_rows(evaluation: Evaluation) -> list[Row]:
    cfg = evaluation.config
    options = cfg.options
    return [
        ("topology", _topology(cfg), ("topology", "hostedZoneId")),
        (
            "hosts",
            _hosts(cfg),
            _HOST_KEYS,
        ),
        ("host image", options.ami_id or "the current Amazon Linux 2023 when a host is created", ("amiId",)),
        ("EC2 recovery", _recovery(evaluation), ()),
        (
            "Orthanc",
            f"{options.orthanc_replicas} replicas of {options.orthanc_image}",
            ("orthancReplicas", "orthancImage"),
        ),
        ("Envoy", options.envoy_image, ("envoyImage",)),
        ("docker compose", options.compose_version, ("composeVersion",)),
        ("DICOMweb and viewers", _web(cfg), ("dicomWeb", "viewers")),
        (
            "SSH key",
            cfg.public_key_source if cfg.public_key else "none (Session Manager only)",
            ("pubkeyData", "pubkeyPath"),
        ),
    ]


def _web(cfg: StackConfig) -> str:
    if not cfg.options.dicom_web:
        return "DICOMweb off; no viewers beside Orthanc Explorer 2"
    viewers = ", ".join(cfg.options.viewers) or "none"
    return f"DICOMweb on; viewers beside Orthanc Explorer 2: {viewers}"


def _data_rows(cfg: StackConfig) -> list[Row]:
    options = cfg.options
    readers = ", ".join(cfg.admin_principal_arns) or "whoever runs `pulumi up`"
    return [
        (
            "database",
            f"PostgreSQL {options.db_engine_version} on {options.db_instance_class}, "
            f"{'Multi-AZ' if cfg.is_production else 'single-AZ'}, {options.db_storage_gb} GB gp3 growing to "
            f"{options.db_max_storage_gb} GB",
            ("dbEngineVersion", "dbInstanceClass", "dbStorageGb", "dbMaxStorageGb"),
        ),
        (
            "deletion protection",
            "on for the database (and a sign-in user pool), kept on destroy with the buckets"
            if cfg.is_production
            else "off (dev: destroy removes data)",
            ("environment",),
        ),
        ("DICOM objects readable by", f"the hosts and {readers}", ("adminPrincipalArns",)),
        ("logs kept", f"{options.log_retention_days} days (CloudWatch Logs and the log bucket)", ("logRetentionDays",)),
        (
            "backups",
            f"AWS Backup keeps {options.backup_retention_days} days of the database and the DICOM bucket"
            + (f", a daily copy in {options.backup_copy_region}" if options.backup_copy_region else ""),
            ("backupRetentionDays", "backupCopyRegion"),
        ),
        (
            "data from",
            f"restored: database {cfg.restore_from.database} at {moment_text(cfg.restore_from.moment)}, DICOM bucket "
            f"{cfg.restore_from.bucket} (adopted, kept on destroy)"
            if cfg.restore_from
            else "new: an empty database and DICOM bucket",
            ("restoreFrom",),
        ),
        (
            "audit trail",
            f"every DICOM object read and write, and every audit line, locked {options.audit_retention_days} days in "
            + ("compliance mode (nobody can delete it)" if cfg.is_production else "governance mode")
            + f"; `orthweb audit` answers from the audit log group, kept {_audit_group_days(cfg)}",
            ("auditRetentionDays", "logRetentionDays"),
        ),
        (
            "older DICOM objects",
            f"move to {options.storage_class} after {options.storage_transition_days} days"
            if options.storage_transition_days
            else "stay in S3 Standard",
            ("storageTransitionDays", "storageClass"),
        ),
        ("alarm e-mails", ", ".join(cfg.alarm_emails) or "none (alarms reach the SNS topic only)", ("alarmEmails",)),
        (
            "Secrets Manager endpoint",
            "on: the hosts read their secrets only through it" if options.secrets_manager_endpoint else "off",
            ("secretsManagerEndpoint",),
        ),
    ]


def _topology(cfg: StackConfig) -> str:
    if cfg.topology != SCALE_OUT:
        return f"{FAILOVER}: a primary serves, `orthweb failover` moves the Elastic IP to the secondary"
    tls = (
        f"TLS at the load balancer (ACM certificate for {cfg.site_domain}, Route53 zone {cfg.hosted_zone_id})"
        if cfg.hosted_zone_id
        else "TCP through to Envoy"
    )
    return f"{SCALE_OUT}: an Auto Scaling group behind a Network Load Balancer (2 fixed IPs), {tls}"


def _hosts(cfg: StackConfig) -> str:
    options = cfg.options
    disk = f"{options.root_volume_gb} GB encrypted gp3 root each"
    if cfg.topology != SCALE_OUT:
        return f"2 x {options.instance_type} ({disk}), secondary {cfg.secondary_state} at creation"
    group = options.group
    tracking = f", CPU target {group.cpu_target_percent}%" if group.cpu_target_percent else ", fixed size"
    return f"{group.desired} x {options.instance_type} ({group.minimum} to {group.maximum}{tracking}; {disk})"


def _recovery(evaluation: Evaluation) -> str:
    """What a failed system status check does, as the evaluated alarms say."""
    cfg = evaluation.config
    if cfg.topology == SCALE_OUT:
        return "none: the group replaces a host that stops serving"
    instance_type = cfg.options.instance_type
    actions = [
        action
        for alarm in evaluation.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if alarm.inputs.get("metricName") == "StatusCheckFailed_System"
        for action in alarm.inputs.get("alarmActions", [])
    ]
    if any(action.endswith(":ec2:recover") for action in actions):
        return f"EC2 recovers a host on failed hardware in place ({instance_type} supports it)"
    if instance_type not in recorded_types():
        return (
            f"decided by `pulumi up` from EC2's data for {instance_type} (not known offline): "
            "recovery where EC2 supports it, else the alarm only notifies"
        )
    return f"none: EC2 cannot recover {instance_type}; the alarm notifies (stop and start the host, or fail over)"


def _audit_group_days(cfg: StackConfig) -> str:
    days = telemetry.audit_log_retention_days(cfg.options.audit_retention_days, cfg.options.log_retention_days)
    return "without expiry" if days == 0 else f"{days} days"
