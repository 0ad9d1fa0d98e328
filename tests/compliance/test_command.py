"""`python -m orthweb check`: exit codes, the install hint, and the JSON document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orthweb.commands import cli
from orthweb.ops.compliance.scan import CHECKOV_ENV, Report

pytestmark = pytest.mark.compliance


def test_missing_checkov_exits_2_with_the_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CHECKOV_ENV, str(tmp_path / "no-checkov"))
    assert cli.main(["check"]) == 2
    error = capsys.readouterr().err
    assert "pip install checkov==3.3.30" in error and CHECKOV_ENV in error


def test_json_document(
    reports: dict[str, Report], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("orthweb.commands.check.scan", lambda evaluation: reports["dev"])
    assert cli.main(["check", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"passed", "failed", "skipped", "failures", "skips"}
    assert document["failed"] == 0 and document["failures"] == []
    assert document["skipped"] == len(document["skips"]) > 0
    assert set(document["skips"][0]) == {"id", "resource", "reason"}


def test_failures_exit_1_and_are_listed(
    reports: dict[str, Report], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("orthweb.commands.check.scan", lambda evaluation: reports["insecure"])
    assert cli.main(["check"]) == 1
    text = capsys.readouterr().out
    assert "7 failed" in text
    assert (
        "CKV_AWS_24   aws_vpc_security_group_ingress_rule.orthweb_hosts_sg_in_https_0_0_0_0_0 "
        "(orthweb-hosts-sg-in-https-0.0.0.0_0)"
    ) in text
