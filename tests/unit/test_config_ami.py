"""`deploymentOptions.amiId`: an AMI id the hosts are pinned to, instead of the current AL2023."""

from __future__ import annotations

from pathlib import Path

import pytest

from orthweb.config.stack_config import ConfigError, load_config


@pytest.mark.parametrize("ami", ["ami-0123abcd", "ami-0123456789abcdef0"])
def test_a_pinned_ami_id_is_accepted(empty_home: Path, ami: str) -> None:
    cfg = load_config({"orthweb:deploymentOptions": {"amiId": ami}}, stack="test", home=empty_home)
    assert cfg.options.ami_id == ami


def test_no_pinned_ami_by_default(empty_home: Path) -> None:
    assert load_config({}, stack="test", home=empty_home).options.ami_id is None


@pytest.mark.parametrize(
    "ami", ["ami-123", "AMI-0123456789abcdef0", "ami-0123456789abcdef01", "i-0123456789abcdef0", 42]
)
def test_anything_but_an_ami_id_is_refused(empty_home: Path, ami: object) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"orthweb:deploymentOptions": {"amiId": ami}}, stack="test", home=empty_home)
    assert "deploymentOptions.amiId" in str(caught.value) and "ami-" in str(caught.value)
