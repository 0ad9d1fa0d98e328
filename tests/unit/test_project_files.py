"""Pulumi.yaml, the stack files and __main__.py agree with orthweb/config/stack_config.py."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
import yaml

from orthweb.config.keys import KEYS
from orthweb.config.problems import ConfigError
from orthweb.config.stack_config import load_config
from orthweb.evaluate import PROJECT_ROOT
from orthweb.evaluate.mocks import OfflineMocks
from orthweb.evaluate.monitor import RecordingMonitor
from orthweb.evaluate.run import run_program
from orthweb.evaluate.stack_file import read_stack_file


def project_schema() -> dict[str, dict]:
    return yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text())["config"]


def test_pulumi_yaml_declares_every_scalar_key_with_the_same_defaults(empty_home: Path) -> None:
    schema = project_schema()
    # The objects and the certificate pair are documented in README; see the comment in Pulumi.yaml.
    undeclared = {"deploymentOptions", "hospitalNetwork", "restoreFrom", "siteCertificate", "siteCertificateKey"}
    assert set(schema) == {row.name for row in KEYS} - undeclared
    defaults = {f"orthweb:{k}": v["default"] for k, v in schema.items() if "default" in v}
    assert load_config(defaults, stack="t", home=empty_home) == load_config({}, stack="t", home=empty_home)
    assert all("default" in entry for entry in schema.values()), "a typed key without a default is required"
    assert all(entry.get("description") for entry in schema.values())


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_are_valid_and_complete(stack: str, empty_home: Path) -> None:
    values, secret_keys = read_stack_file(PROJECT_ROOT / f"Pulumi.{stack}.yaml")
    cfg = load_config(values, stack=stack, secret_keys=secret_keys, home=empty_home)
    assert cfg.environment == stack and cfg.region == "us-east-1"


def test_the_program_stops_with_one_line_and_creates_nothing_on_bad_config(empty_home: Path) -> None:
    """The path `pulumi up` takes: __main__.py reads the engine's config itself."""
    monitor = RecordingMonitor(OfflineMocks("us-east-1"))
    cfg = load_config({}, stack="dev", home=empty_home)
    engine_config = {"aws:region": "us-east-1", "orthweb:environment": "staging"}
    with pytest.raises(pulumi.RunError) as caught:
        run_program(PROJECT_ROOT, "dev", cfg, engine_config, [], monitor, empty_home)
    assert str(caught.value).count("\n") == 0 and "orthweb:environment" in str(caught.value)
    assert monitor.records == []
    with pytest.raises(ConfigError):
        load_config(engine_config, stack="dev", home=empty_home)
