"""Stack configuration: the one place that reads and validates what a user may change.

Every key lives in the `orthweb:` namespace of the stack config and is one row of
`orthweb.config.keys` (name, type, default, check, doc). `load_config` runs each row's check on
the value given (or the row's default), then the rules that join keys: the SSH key, the
certificate pair, sign-in, and how topology, sizes and the database fit. It is pure (it takes the
flat key -> value mapping the engine hands to the program), so the CLI, the tests and the Pulumi
program all validate the same way. Anything wrong raises `ConfigError`, whose Problem names the
key, the value and what is allowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orthweb.config import topology
from orthweb.config.keys import (
    BY_NAME,
    KEYS,
    OPTION_BY_NAME,
    OPTIONS,
    OPTIONS_KEY,
    SECRET_KEYS,
    terraform_renames,
)
from orthweb.config.problems import ConfigError, Problem, qualified_key
from orthweb.config.validation import check_certificate_pair, check_region, check_stack_name, did_you_mean
from orthweb.infra import instance_types
from orthweb.infra.durability import DURABILITY, Durability
from orthweb.infra.hospital_network import HospitalNetwork, asn_reason, overlap_reason
from orthweb.infra.ssh_key import resolve_public_key
from orthweb.shared import redaction, sso
from orthweb.shared.constants import (
    COMPOSE_SHA256,
    DEV,
    PROD,
    PROJECT,
    READABLE_STORAGE_CLASSES,
    SCALE_OUT,
    TLS_AT_ENVOY,
    TLS_AT_LOAD_BALANCER,
)
from orthweb.shared.modalities import AE_TITLE, CLIENT_CERTIFICATE, DicomModality
from orthweb.shared.restore_point import TIME, RestorePoint, moment_text
from orthweb.shared.sizing import host_memory_reason


@dataclass(frozen=True)
class DeploymentOptions:
    """What runs on the hosts and how big things are (`orthweb:deploymentOptions`): one field per
    row of `config_keys.OPTIONS`, which holds its default and check."""

    orthanc_image: str
    envoy_image: str
    compose_version: str
    instance_type: str
    orthanc_replicas: int
    root_volume_gb: int
    db_instance_class: str
    db_engine_version: int
    db_storage_gb: int
    db_max_storage_gb: int
    log_retention_days: int
    secrets_manager_endpoint: bool
    # DICOMweb (QIDO-RS, WADO-RS, STOW-RS, WADO-URI) and the viewers served beside Orthanc Explorer 2.
    dicom_web: bool
    viewers: tuple[str, ...]
    # An AMI every host is launched from; None: the current Amazon Linux 2023 (see infra/host_image.py).
    ami_id: str | None
    # The scale-out topology's Auto Scaling group (config `topology`); rejected with failover.
    group_size: int
    group_min_size: int
    group_max_size: int
    cpu_target_percent: int  # 0: a fixed size
    # AWS Backup's continuous backups of the database and the DICOM bucket, and their copy region.
    backup_retention_days: int
    backup_copy_region: str | None
    # DICOM objects move to `storage_class` after this many days (0: never).
    storage_transition_days: int
    storage_class: str
    # Days each audit log file (CloudTrail's data events) is locked in the audit bucket.
    audit_retention_days: int

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
    """The checked stack config: a field per row of `config_keys.KEYS` that has one, and what the
    rows read together make (the options, the SSH key, the certificate pair, sign-in)."""

    stack: str
    environment: str
    vpc_cidr: str
    web_allowed_cidrs: tuple[str, ...]
    dicom_allowed_cidrs: tuple[str, ...]
    secondary_state: str
    site_domain: str | None
    # Each address gets every alarm and its recovery by email (after confirming the subscription).
    alarm_emails: tuple[str, ...]
    # Who besides the hosts may read and write DICOM objects; empty: whoever runs `pulumi up`.
    admin_principal_arns: tuple[str, ...]
    # The only DICOM callers Orthanc accepts (and C-MOVE destinations); every replica knows them.
    dicom_modalities: tuple[DicomModality, ...]
    # Mutual TLS on 11112: each modality presents the certificate the stack issued it.
    dicom_client_certificates: bool
    topology: str
    # A Route53 zone holding `site_domain` (scale-out: publicly trusted TLS at the load balancer).
    hosted_zone_id: str | None
    # The hospital's side of a Site-to-Site VPN, and plain DICOM from its ranges; None: no VPN.
    hospital_network: HospitalNetwork | None
    options: DeploymentOptions
    region: str | None = None
    public_key: str | None = None
    public_key_source: str = "none"
    site_certificate: SiteCertificate | None = field(default=None, repr=False)
    # Sign-in through Cognito at Envoy; None: Orthanc's own generated credential (`basic`).
    sso: SsoSettings | None = None
    # Things that work today but need the user's attention soon (printed by plan, logged by up).
    warnings: tuple[str, ...] = ()
    # A restored stack: where its database and DICOM bucket come from (`orthweb restore` writes it).
    restore_from: RestorePoint | None = None

    @property
    def is_production(self) -> bool:
        return self.environment == PROD

    @property
    def durability(self) -> Durability:
        """What the stack keeps on destroy and how it guards its data: its environment's, with the
        backup and audit retentions the user chose (the environment's are those keys' defaults)."""
        return dataclasses.replace(
            DURABILITY[self.environment],
            backup_retention_days=self.options.backup_retention_days,
            audit_retention_days=self.options.audit_retention_days,
        )

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
    given, problems = _project_values(raw, secret_keys)
    # Every key is checked, in the table's order, and all that are wrong are reported together.
    values: dict[str, Any] = {}
    for row in KEYS:
        try:
            values[row.name] = row.value(given)
        except ConfigError as error:
            problems.extend(error.problems)
    options = None
    if OPTIONS_KEY in values and "environment" in values:
        options, option_problems = _checked_options(values[OPTIONS_KEY], values["environment"])
        problems.extend(option_problems)
    if problems or options is None:
        raise ConfigError(*problems)
    certificate, certificate_warnings = _site_certificate(values, now or datetime.datetime.now(datetime.UTC))
    config = StackConfig(
        stack=stack,
        **{row.field: values[row.name] for row in KEYS if row.field},
        options=options,
        site_certificate=certificate,
        **_public_key(values, home),
        region=_region(raw),
        sso=_sign_in(values, stack),
        warnings=(*certificate_warnings, *_option_warnings(options)),
    )
    _check_topology(config)
    _check_restore_time(config, now or datetime.datetime.now(datetime.UTC))
    _check_backup_copy(config)
    _check_host_memory(config.options)
    _check_dicom_callers(config)
    _check_hospital_network(config)
    warnings = (*config.warnings, *_dicom_warnings(config), *_group_warnings(config), *_restore_warnings(config))
    return dataclasses.replace(config, warnings=warnings)


def default_options(environment: str = DEV) -> DeploymentOptions:
    """Every option at its default (for `environment`)."""
    return _options({}, environment)


def _options(given: dict[str, Any], environment: str) -> DeploymentOptions:
    options, problems = _checked_options(given, environment)
    if problems or options is None:
        raise ConfigError(*problems)
    return options


def _checked_options(given: dict[str, Any], environment: str) -> tuple[DeploymentOptions | None, list[Problem]]:
    """The options, or every problem with them (unknown names and bad values together)."""
    problems = [
        Problem(f"{OPTIONS_KEY}.{name}", value, _unknown_option_hint(name, given))
        for name, value in given.items()
        if name not in OPTION_BY_NAME
    ]
    fields: dict[str, Any] = {}
    for row in OPTIONS:
        try:
            fields[row.field] = row.value(given, environment)
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        return None, problems
    try:
        return _joined_options(DeploymentOptions(**fields)), []
    except ConfigError as error:
        return None, list(error.problems)


def _joined_options(options: DeploymentOptions) -> DeploymentOptions:
    """The rules between options."""
    if options.db_max_storage_gb < options.db_storage_gb:
        raise ConfigError.of(
            f"{OPTIONS_KEY}.dbMaxStorageGb",
            options.db_max_storage_gb,
            f"at least dbStorageGb ({options.db_storage_gb})",
        )
    fewest = READABLE_STORAGE_CLASSES[options.storage_class]
    if 0 < options.storage_transition_days < fewest:
        raise ConfigError.of(
            f"{OPTIONS_KEY}.storageTransitionDays",
            options.storage_transition_days,
            f"0 (never) or at least {fewest}: S3 moves objects to {options.storage_class} no sooner",
        )
    if options.viewers and not options.dicom_web:
        raise ConfigError.of(
            f"{OPTIONS_KEY}.viewers",
            list(options.viewers),
            "[] while dicomWeb is false: the viewers read studies over DICOMweb",
        )
    return options


def _option_warnings(options: DeploymentOptions) -> tuple[str, ...]:
    if options.compose_version in COMPOSE_SHA256:
        return ()
    pinned = ", ".join(COMPOSE_SHA256)
    return (
        f"deploymentOptions.composeVersion {options.compose_version} has no SHA-256 pinned in orthweb "
        f"(pinned: {pinned}); the hosts check the download only against the release's own checksum file",
    )


def _check_restore_time(config: StackConfig, now: datetime.datetime) -> None:
    """Backups hold only the past: RDS refuses a RestoreTime after its latest restorable time."""
    if config.restore_from is not None and config.restore_from.moment > now:
        raise ConfigError.of(
            f"restoreFrom.{TIME}",
            moment_text(config.restore_from.moment),
            f"a moment in the past (it is {moment_text(now)} now)",
        )


def _restore_warnings(config: StackConfig) -> tuple[str, ...]:
    if config.restore_from is None:
        return ()
    return (
        "restoreFrom is for a new stack (orthweb restore writes it): on a deployed stack it would replace the "
        "database and the DICOM bucket; `pulumi up` stops when RDS refuses the second database of that name",
    )


def _check_backup_copy(config: StackConfig) -> None:
    """A copy in the stack's own region would fall with it."""
    copy_region = config.options.backup_copy_region
    if copy_region is not None and copy_region == config.region:
        raise ConfigError.of(
            f"{OPTIONS_KEY}.backupCopyRegion", copy_region, f"a region other than the stack's ({config.region})"
        )


def _check_host_memory(options: DeploymentOptions) -> None:
    memory = instance_types.nominal_memory_gib(options.instance_type)
    reason = host_memory_reason(options.instance_type, memory, options.orthanc_replicas)
    if reason is not None:
        raise ConfigError.of(f"{OPTIONS_KEY}.orthancReplicas", options.orthanc_replicas, reason)


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
        raise ConfigError(problem)


def _check_dicom_callers(config: StackConfig) -> None:
    """Client certificates need TLS to end at Envoy, which reads them."""
    if config.dicom_client_certificates and config.tls_ends_at == TLS_AT_LOAD_BALANCER:
        raise ConfigError.of(
            "dicomClientCertificates",
            True,
            "false with hostedZoneId: the load balancer then ends TLS, so Envoy never sees a client certificate",
        )


def _group_warnings(config: StackConfig) -> tuple[str, ...]:
    group = config.options.group
    if config.topology != SCALE_OUT or not group.cpu_target_percent or group.minimum != group.maximum:
        return ()
    return (
        f"deploymentOptions.cpuTargetPercent {group.cpu_target_percent} has nothing to scale: groupMinSize and "
        f"groupMaxSize are both {group.minimum}, so the group stays at that size (widen them to let it track CPU, "
        "or set cpuTargetPercent 0)",
    )


def _check_hospital_network(config: StackConfig) -> None:
    """The hospital's ranges beside the VPC's, and its ASN in the stack's region."""
    hospital = config.hospital_network
    if hospital is None:
        return
    reason = overlap_reason(hospital.cidrs, config.vpc_cidr)
    if reason:
        raise ConfigError.of("hospitalNetwork.cidrs", list(hospital.cidrs), reason)
    if hospital.bgp_asn is not None:
        reason = asn_reason(hospital.bgp_asn, config.region)
        if reason:
            raise ConfigError.of("hospitalNetwork.bgpAsn", hospital.bgp_asn, reason)


def _dicom_warnings(config: StackConfig) -> tuple[str, ...]:
    if not config.is_production or config.dicom_client_certificates or "0.0.0.0/0" not in config.dicom_allowed_cidrs:
        return ()
    return (
        "dicomAllowedCidrs admits the whole internet (0.0.0.0/0) to DICOM-TLS and callers are told apart by "
        "AE title only, which anyone can claim: narrow dicomAllowedCidrs to your modalities' networks or set "
        "dicomClientCertificates to true",
    )


def _project_values(raw: Mapping[str, Any], secret_keys: frozenset[str]) -> tuple[dict[str, Any], list[Problem]]:
    """This project's keys without their namespace, and a Problem for each unknown key."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for full_key, value in raw.items():
        _screen_for_secrets(full_key, value, secret_keys)
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            _check_foreign_namespace(full_key, value)
        elif key not in BY_NAME:
            problems.append(_unknown_key(key, value))
        else:
            values[key] = value
    for key in SECRET_KEYS:
        if key in values and qualified_key(key) not in secret_keys:
            raise ConfigError.of(key, redaction.NOT_SHOWN, f"a secret: set it with `pulumi config set --secret {key}`")
    return values, problems


# Keys of other namespaces whose names say they hold a secret (aws:secretKey, aws:token, ...).
_SECRET_KEY_NAME = re.compile(r"secret|token|password|passphrase|private", re.IGNORECASE)


def _screen_for_secrets(full_key: str, value: Any, secret_keys: frozenset[str]) -> None:
    """Secrets are remembered, so that no message or output shows any part of them; a key that is
    not a secret holding a private key, a token or a generated secret is refused, unshown."""
    namespace, _, key = full_key.partition(":")
    ours = namespace == PROJECT
    if full_key in secret_keys or (ours and key in SECRET_KEYS) or _SECRET_KEY_NAME.search(key):
        redaction.register(value)
        return
    kind = _secret_kind(key, value) if ours else None
    redaction.register_input(value)
    if kind is not None:
        raise ConfigError.of(
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
        raise ConfigError.of(full_key, value, f"unknown namespace '{namespace}' (did you mean '{PROJECT}:{key}'?)")


def _unknown_option_hint(name: str, given: Mapping[str, Any]) -> str:
    renames = terraform_renames(given)
    if renames:
        return f"a name of the Terraform orthweb; here it is {renames}"
    close = did_you_mean(name, OPTION_BY_NAME)
    return (
        f"unknown option{close}" if close else f"unknown option; known options are {', '.join(sorted(OPTION_BY_NAME))}"
    )


def _unknown_key(key: str, value: Any) -> Problem:
    if isinstance(value, str) and value.startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if key in OPTION_BY_NAME:
        path = f"{OPTIONS_KEY}.{key}"
        return Problem(
            key, value, f"a key of {OPTIONS_KEY}, not a top-level one: {path}", example=value, example_key=path
        )
    renames = terraform_renames([key, *(value if isinstance(value, dict) else [])])
    if renames:
        return Problem(key, value, f"a name of the Terraform orthweb; here it is {renames}")
    close = did_you_mean(key, [*BY_NAME, *OPTION_BY_NAME])
    if close:
        return Problem(key, value, f"unknown key{close}")
    return Problem(key, value, "unknown key; known keys are " + ", ".join(BY_NAME))


def _site_certificate(
    values: Mapping[str, Any], now: datetime.datetime
) -> tuple[SiteCertificate | None, tuple[str, ...]]:
    """The user's own certificate and key, which come as a pair or not at all, and need siteDomain."""
    certificate_pem, key_pem, domain = values["siteCertificate"], values["siteCertificateKey"], values["siteDomain"]
    if (certificate_pem is None) != (key_pem is None):
        missing = "siteCertificateKey" if certificate_pem else "siteCertificate"
        raise ConfigError.of(missing, None, "set together with its pair: siteCertificate and siteCertificateKey")
    if certificate_pem is None or key_pem is None:
        return None, ()
    report = check_certificate_pair(certificate_pem, key_pem, site_domain=domain, now=now)
    if domain is None:
        # Without it the site's address is a name AWS makes up (…amazonaws.com), which no certificate of yours names.
        names = ", ".join(report.names) or "none"
        raise ConfigError.of(
            "siteDomain",
            None,
            f"set with siteCertificate: the DNS name clients reach the site by, one the certificate covers "
            f"(it names {names}); without it the site's address is AWS's own name, which it cannot cover",
        )
    return SiteCertificate(certificate_pem=certificate_pem, private_key_pem=key_pem), report.warnings


def _sign_in(values: Mapping[str, Any], stack: str) -> SsoSettings | None:
    """With `authentication: sso`, who administers it and where Cognito's pages live."""
    emails, prefix = values["ssoAdminEmails"], values["ssoDomainPrefix"]
    if values["authentication"] == sso.BASIC:
        for key, value in (("ssoAdminEmails", list(emails)), ("ssoDomainPrefix", prefix)):
            if value:
                raise ConfigError.of(key, value, "only with authentication = sso (it is basic)")
        return None
    if not emails:
        example = BY_NAME["ssoAdminEmails"].example
        raise ConfigError(
            Problem("ssoAdminEmails", [], "at least one address with authentication = sso", example=example)
        )
    if len({email.lower() for email in emails}) != len(emails):
        raise ConfigError.of("ssoAdminEmails", list(emails), "distinct addresses (Cognito ignores case)")
    if prefix is None and (word := sso.reserved_word_in(stack)) is not None:
        raise ConfigError.of(
            "ssoDomainPrefix",
            None,
            f"a prefix of your own: the generated one holds the stack name, which contains Cognito's "
            f"reserved word '{word}'",
        )
    return SsoSettings(admin_emails=emails, domain_prefix=prefix)


def _public_key(values: Mapping[str, Any], home: Path | None) -> dict[str, Any]:
    """The SSH public key from `pubkeyData`, `pubkeyPath` or ~/.ssh, or none at all."""
    key = resolve_public_key(
        data=values["pubkeyData"], path=values["pubkeyPath"], home=home if home is not None else Path.home()
    )
    return {} if key is None else {"public_key": key.material, "public_key_source": key.source}


def _region(raw: Mapping[str, Any]) -> str | None:
    region = raw.get("aws:region")
    return None if region is None else check_region(region)


def from_pulumi() -> StackConfig:
    """Read the config the Pulumi engine passed to this program (the only pulumi.Config user)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    secret_keys = frozenset(key for key in raw if runtime_config.is_config_secret(key))
    secret_keys |= frozenset(runtime_config.get_config_secret_keys_env())
    return load_config(raw, stack=pulumi.get_stack(), secret_keys=secret_keys)
