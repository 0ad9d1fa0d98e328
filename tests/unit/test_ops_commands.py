"""`failover` and `verify` find the region where `plan` does, and a missing credential is one line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from orthweb.commands import common
from orthweb.commands.cli import build_parser, main
from orthweb.ops.aws import OpsError
from orthweb.ops.verify.model import CheckFailed


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An environment where boto3's credential chain finds nothing (and asks no metadata service)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder whose Pulumi.eu.yaml deploys to eu-west-1."""
    (tmp_path / "Pulumi.eu.yaml").write_text("config:\n  aws:region: eu-west-1\n  orthweb:environment: dev\n")
    (tmp_path / "Pulumi.noregion.yaml").write_text("config:\n  orthweb:environment: dev\n")
    (tmp_path / "Pulumi.broken.yaml").write_text("config: [unclosed\n")
    monkeypatch.setattr(common, "PROJECT_ROOT", tmp_path)
    return tmp_path


def test_region_comes_from_the_option_then_the_stack_file(project: Path) -> None:
    assert common.stack_region("eu", "us-west-2") == "us-west-2"
    assert common.stack_region("eu", None) == "eu-west-1"
    assert common.stack_region("noregion", None) is None, "the AWS profile decides"
    assert common.stack_region("elsewhere", None) is None, "no stack file here: the AWS profile decides"
    with pytest.raises(OpsError, match="valid YAML"):
        common.stack_region("broken", None)


def test_the_shipped_stack_files_name_their_region() -> None:
    assert common.stack_region("dev", None) == "us-east-1"
    assert common.stack_region("prod", None) == "us-east-1"


def test_verify_connects_to_the_stack_files_region(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orthweb.ops.verify import aws

    asked: list[Any] = []

    def connect(*, region: str | None = None, **_: Any) -> Any:
        asked.append(region)
        raise CheckFailed("stop here")

    monkeypatch.setattr(aws, "connect", connect)
    assert main(["verify", "--stack", "eu"]) == 2
    assert asked == ["eu-west-1"]


def test_failover_connects_to_the_stack_files_region(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orthweb.commands import failover

    asked: list[Any] = []

    def connect(*, region: str | None = None, **_: Any) -> Any:
        asked.append(region)
        raise OpsError("stop here")

    monkeypatch.setattr(failover, "connect", connect)
    assert main(["failover", "--stack", "eu", "--yes"]) == 1
    assert asked == ["eu-west-1"]


def test_verify_without_credentials_says_so_in_one_line(
    no_aws_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "--stack", "dev"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "", "no table of checks that never ran"
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("orthweb verify: no AWS credentials found")
    assert "AWS_PROFILE" in captured.err


def test_failover_without_credentials_changes_nothing(
    no_aws_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["failover", "--stack", "dev", "--yes"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[0].startswith("orthweb failover: no AWS credentials found")
    assert "Nothing was changed." in captured.err


def _options(parser: argparse.ArgumentParser) -> dict[str, tuple[str | None, object]]:
    return {o: (a.help, a.default) for a in parser._actions for o in a.option_strings}  # pyright: ignore[reportPrivateUsage]


def test_the_commands_on_a_deployed_stack_share_one_stack_and_region_option() -> None:
    """Declared once (common.add_deployed_stack_arguments): the same words and defaults in each command."""
    reference = argparse.ArgumentParser()
    common.add_deployed_stack_arguments(reference)
    shared = {o: v for o, v in _options(reference).items() if o in ("--stack", "--region")}
    assert set(shared) == {"--stack", "--region"} and shared["--stack"][1] is None
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]  # pyright: ignore[reportPrivateUsage]
    for name in ("failover", "verify", "token", "modality-cert", "audit", "restore", "drill"):
        options = _options(commands.choices[name])
        assert {o: options.get(o) for o in shared} == shared, name
