"""What `plan` shows: every effective setting, the DNS record to create, each warning once, and a
`--json` document that is the same bytes for the same input, with its warnings and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from orthweb.commands.plan_settings import settings_rows
from orthweb.config.keys import KEY_NAMES, OPTION_NAMES, OPTIONS_KEY
from orthweb.config.stack_config import load_config
from orthweb.evaluate import PROJECT_ROOT, Evaluation
from orthweb.evaluate.model import RecordedResource

COMPOSE_WARNING = "deploymentOptions.composeVersion 2.30.0 has no SHA-256 pinned in orthweb"


def settings_of(home: Path, resources: list[RecordedResource] | None = None, **values: Any) -> dict[str, str]:
    config = load_config({f"orthweb:{k}": v for k, v in values.items()}, stack="test", home=home)
    evaluation = Evaluation(stack="test", config=config, resources=resources or [], outputs={})
    return {label: value for label, value, _ in settings_rows(evaluation)}


def test_the_rows_together_show_every_key_of_the_table(empty_home: Path) -> None:
    config = load_config({}, stack="test", home=empty_home)
    rows = settings_rows(Evaluation(stack="test", config=config, resources=[], outputs={}))
    shown = {key for _, _, keys in rows for key in keys}
    assert shown == {*KEY_NAMES, *OPTION_NAMES, "aws:region"} - {OPTIONS_KEY}


def test_settings_a_user_changes_are_seen_to_take_effect(empty_home: Path) -> None:
    shown = settings_of(
        empty_home,
        authentication="sso",
        ssoAdminEmails=["pacs-admin@hospital.org"],
        ssoDomainPrefix="hospital-pacs",
        alarmEmails=["oncall@hospital.org"],
        dicomModalities=["CT_1@10.20.0.15:104"],
        dicomClientCertificates=True,
        deploymentOptions={"logRetentionDays": 731, "viewers": ["ohif"], "amiId": "ami-0123456789abcdef0"},
    )
    assert shown["sign-in"] == (
        "sso: Amazon Cognito at hospital-pacs.auth.<region>.amazoncognito.com; admins pacs-admin@hospital.org"
    )
    assert shown["alarm e-mails"] == "oncall@hospital.org"
    assert shown["DICOM modalities"] == "CT_1@10.20.0.15:104 (by client certificate and AE title)"
    assert shown["logs kept"].startswith("731 days")
    assert shown["DICOMweb and viewers"] == "DICOMweb on; viewers beside Orthanc Explorer 2: ohif"
    assert shown["host image"] == "ami-0123456789abcdef0"
    assert "site name" in shown and "DNS record" not in shown  # no siteDomain, no record to create


def eip(public_dns: str) -> RecordedResource:
    return RecordedResource(
        urn="urn:pulumi:test::orthweb::aws:ec2/eip:Eip::site",
        type="aws:ec2/eip:Eip",
        name="site",
        parent=None,
        inputs={},
        dependencies=(),
        property_dependencies={},
        custom=True,
        id="eipalloc-1",
        state={"publicDns": public_dns},
    )


def test_with_a_site_domain_the_record_to_create_is_printed(empty_home: Path) -> None:
    shown = settings_of(empty_home, [eip("ec2-203-0-113-10.compute-1.amazonaws.com")], siteDomain="pacs.hospital.org")
    assert shown["site name"] == "pacs.hospital.org"
    assert shown["DNS record"].startswith(
        "create it yourself: pacs.hospital.org CNAME ec2-203-0-113-10.compute-1.amazonaws.com (the Elastic IP's name"
    )
    zone = settings_of(
        empty_home,
        siteDomain="pacs.hospital.org",
        topology="scale-out",
        hostedZoneId="Z0123456789ABCDEFGHIJ",
    )
    assert zone["DNS record"].startswith("published by the stack in Route53 zone Z0123456789ABCDEFGHIJ")


def plan(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orthweb", "plan", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_plan_json_is_the_same_bytes_twice_with_its_warnings_and_each_warning_printed_once(empty_home: Path) -> None:
    args = ("--json", "--set", "deploymentOptions.composeVersion=2.30.0")
    first, second = plan(*args, home=empty_home), plan(*args, home=empty_home)
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    document = json.loads(first.stdout)
    assert [w for w in document["warnings"] if w.startswith(COMPOSE_WARNING)] and document["errors"] == []
    assert first.stderr.count(COMPOSE_WARNING) == 1


def test_plan_json_carries_the_errors_of_a_refused_config(empty_home: Path) -> None:
    done = plan("--json", "--set", "alarmEmails=oncall@hospital.org", "--set", "environment=staging", home=empty_home)
    assert done.returncode == 2
    document = json.loads(done.stdout)
    assert [line.split(":")[0] for line in document["errors"]] == ["--set alarmEmails", "--set environment"]
    assert document["stack"] == "dev" and document["warnings"] == []
