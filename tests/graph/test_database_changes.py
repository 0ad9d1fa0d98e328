"""What happens to the database when the configuration changes after the first deploy.

The list of config changes that replace the database is documented in docs/lifecycle.md; the
replacement model (force-new inputs, and replacements reaching dependents) must agree with it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from orthweb.config.keys import KEYS, OPTIONS, OPTIONS_KEY
from orthweb.evaluate import PROJECT_ROOT, Evaluation, evaluate
from orthweb.evaluate.replacement import replaced
from orthweb.evaluate.stack_file import stand_in_certificate
from tests.conftest import openssh_public

DB = "aws:rds/instance:Instance"
DATABASE = "orthweb-database-postgres"
SCALE_OUT = {"topology": "scale-out"}
SSO = {"authentication": "sso", "ssoAdminEmails": ["admin@example.org"]}
CERTIFICATE, CERTIFICATE_KEY = stand_in_certificate("pacs.example.org")
# A user certificate comes with the domain it covers.
DOMAIN = {"siteDomain": "pacs.example.org"}


def _option(name: str, value: Any, base: dict[str, Any] | None = None) -> tuple[dict, dict]:
    base = base or {}
    return base, {**base, "deploymentOptions": {name: value}}


# For every config key: the config before (beyond the dev stack file) and the config after a change.
CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "aws:region": ({}, {"aws:region": "eu-west-1"}),
    "environment": ({}, {"environment": "prod"}),
    "vpcCidr": ({}, {"vpcCidr": "10.20.0.0/16"}),
    "webAllowedCidrs": ({}, {"webAllowedCidrs": ["203.0.113.0/24"]}),
    "dicomAllowedCidrs": ({}, {"dicomAllowedCidrs": ["203.0.113.0/24"]}),
    "pubkeyData": ({}, {"pubkeyData": openssh_public(ed25519.Ed25519PrivateKey.generate())}),
    "pubkeyPath": ({}, {"pubkeyPath": "{home}/key.pub"}),
    "secondaryState": ({}, {"secondaryState": "stopped"}),
    "siteDomain": ({}, {"siteDomain": "pacs.example.org"}),
    "siteCertificate": (DOMAIN, {**DOMAIN, "siteCertificate": CERTIFICATE, "siteCertificateKey": CERTIFICATE_KEY}),
    "siteCertificateKey": (DOMAIN, {**DOMAIN, "siteCertificate": CERTIFICATE, "siteCertificateKey": CERTIFICATE_KEY}),
    "topology": ({}, SCALE_OUT),
    "hostedZoneId": (
        {**SCALE_OUT, "siteDomain": "pacs.example.org"},
        {**SCALE_OUT, "siteDomain": "pacs.example.org", "hostedZoneId": "Z0123456789ABCDEFGHIJ"},
    ),
    "alarmEmails": ({}, {"alarmEmails": ["oncall@example.org"]}),
    "adminPrincipalArns": ({}, {"adminPrincipalArns": ["arn:aws:iam::123456789012:role/Admin"]}),
    "dicomModalities": ({}, {"dicomModalities": ["CT_1@10.20.0.15:104"]}),
    "hospitalNetwork": ({}, {"hospitalNetwork": {"cidrs": ["10.20.0.0/16"], "vpnDeviceAddress": "81.2.69.160"}}),
    "dicomClientCertificates": (
        {"dicomModalities": ["CT_1@10.20.0.15:104"]},
        {"dicomModalities": ["CT_1@10.20.0.15:104"], "dicomClientCertificates": True},
    ),
    "authentication": ({}, SSO),
    "ssoAdminEmails": (SSO, {**SSO, "ssoAdminEmails": ["other@example.org"]}),
    "ssoDomainPrefix": (SSO, {**SSO, "ssoDomainPrefix": "pacs-sign-in"}),
    "restoreFrom": (
        {},
        {"restoreFrom": {"database": "orthweb-dev-abc123", "time": "2026-12-06T12:30:00Z", "bucket": "restored-1"}},
    ),
    "deploymentOptions.orthancImage": _option("orthancImage", "orthancteam/orthanc:25.12.2"),
    "deploymentOptions.envoyImage": _option("envoyImage", "envoyproxy/envoy:v1.40.1"),
    "deploymentOptions.composeVersion": _option("composeVersion", "2.30.0"),
    "deploymentOptions.instanceType": _option("instanceType", "t3.large"),
    "deploymentOptions.orthancReplicas": _option("orthancReplicas", 2),
    "deploymentOptions.rootVolumeGb": _option("rootVolumeGb", 40),
    "deploymentOptions.dbInstanceClass": _option("dbInstanceClass", "db.t4g.medium"),
    "deploymentOptions.dbEngineVersion": _option("dbEngineVersion", 16),
    "deploymentOptions.dbStorageGb": _option("dbStorageGb", 40),
    "deploymentOptions.dbMaxStorageGb": _option("dbMaxStorageGb", 200),
    "deploymentOptions.logRetentionDays": _option("logRetentionDays", 30),
    "deploymentOptions.secretsManagerEndpoint": _option("secretsManagerEndpoint", True),
    "deploymentOptions.dicomWeb": ({}, {"deploymentOptions": {"dicomWeb": False, "viewers": []}}),
    "deploymentOptions.viewers": _option("viewers", ["stone"]),
    "deploymentOptions.amiId": _option("amiId", "ami-0123456789abcdef0"),
    "deploymentOptions.groupSize": _option("groupSize", 3, SCALE_OUT),
    "deploymentOptions.groupMinSize": _option("groupMinSize", 1, SCALE_OUT),
    "deploymentOptions.groupMaxSize": _option("groupMaxSize", 5, SCALE_OUT),
    "deploymentOptions.cpuTargetPercent": _option("cpuTargetPercent", 50, SCALE_OUT),
    "deploymentOptions.backupRetentionDays": _option("backupRetentionDays", 14),
    "deploymentOptions.backupCopyRegion": _option("backupCopyRegion", "eu-west-1"),
    "deploymentOptions.storageTransitionDays": _option("storageTransitionDays", 60),
    "deploymentOptions.storageClass": _option("storageClass", "GLACIER_IR"),
    "deploymentOptions.auditRetentionDays": _option("auditRetentionDays", 30),
}


def documented_database_replacements() -> set[str]:
    text = (PROJECT_ROOT / "docs" / "lifecycle.md").read_text(encoding="utf-8")
    section = text.split("### Config changes that replace the database", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^- `([^`]+)`", section, flags=re.MULTILINE))


def test_every_config_key_has_a_change_to_try() -> None:
    keys = {row.path for row in (*KEYS, *OPTIONS) if row.name != OPTIONS_KEY}
    missing = sorted(keys - set(CHANGES))
    assert not missing, f"add a changed value for {missing} to CHANGES"


def _evaluate(config: dict[str, Any], home: Path) -> Evaluation:
    config = {k: v.format(home=home) if isinstance(v, str) else v for k, v in config.items()}
    secret = ["siteCertificateKey"] if "siteCertificateKey" in config else []
    return evaluate("dev", config, home=home, secret_overrides=secret)


def test_the_documented_config_changes_are_exactly_those_that_replace_the_database(empty_home: Path) -> None:
    (empty_home / "key.pub").write_text(openssh_public(ed25519.Ed25519PrivateKey.generate()) + "\n")
    replacing = {
        key
        for key, (before, after) in CHANGES.items()
        if DATABASE in replaced(_evaluate(before, empty_home), _evaluate(after, empty_home))
    }
    assert replacing == documented_database_replacements()


def test_a_new_major_version_upgrades_in_place_with_its_parameter_group(empty_home: Path) -> None:
    before = evaluate("dev", {"deploymentOptions": {"dbEngineVersion": 16}}, home=empty_home)
    after = evaluate("dev", {"deploymentOptions": {"dbEngineVersion": 17}}, home=empty_home)
    database = after.one(DB).inputs
    assert database["engineVersion"] == "17" and database["allowMajorVersionUpgrade"] is True
    assert after.named("orthweb-database-parameters").inputs["family"] == "postgres17"
    # The group of the new family is a new group; the database is modified, not replaced.
    assert replaced(before, after) == ["orthweb-database-parameters"]


def test_a_replacement_never_needs_two_databases_with_one_identifier(dev: Evaluation, prod: Evaluation) -> None:
    # Dev deletes the old database first; prod keeps it, so AWS refuses the new one.
    assert dev.one(DB).delete_before_replace is True and dev.one(DB).retain_on_delete is False
    assert prod.one(DB).delete_before_replace is False and prod.one(DB).retain_on_delete is True
