"""The Pulumi -> Terraform type table covers every type the program can create."""

from __future__ import annotations

import importlib
import keyword
from pathlib import Path

import pytest

from orthweb.evaluate import Evaluation, evaluate
from orthweb.ops.compliance.types import EXCLUDED_TYPES, TERRAFORM_TYPES, is_component

pytestmark = pytest.mark.compliance

PACKAGES = {"aws": "pulumi_aws", "random": "pulumi_random", "tls": "pulumi_tls"}


@pytest.fixture(scope="module")
def with_key_pair(empty_home: Path, ed25519_public_key: str) -> Evaluation:
    """The optional resources (an SSH key pair) only exist under some config."""
    return evaluate("dev", {"pubkeyData": ed25519_public_key}, home=empty_home)


def test_every_type_the_program_creates_is_mapped(stack: Evaluation, with_key_pair: Evaluation) -> None:
    used = {r.type for evaluation in (stack, with_key_pair) for r in evaluation.resources if not is_component(r.type)}
    assert "aws:ec2/keyPair:KeyPair" in used
    assert sorted(used - TERRAFORM_TYPES.keys() - EXCLUDED_TYPES.keys()) == []


def test_every_mapped_token_names_a_real_pulumi_resource() -> None:
    for token in [*TERRAFORM_TYPES, *EXCLUDED_TYPES]:
        package, module_path, class_name = token.split(":")
        module = module_path.split("/")[0]
        # A module named after a Python keyword gets a trailing underscore (pulumi_aws.lambda_).
        module = f"{module}_" if keyword.iskeyword(module) else module
        python_module = PACKAGES[package] + ("" if module == "index" else f".{module}")
        assert hasattr(importlib.import_module(python_module), class_name), token


def test_terraform_types_are_unique_and_excluded_types_say_why() -> None:
    names = [t.name for t in TERRAFORM_TYPES.values()]
    assert len(names) == len(set(names))
    assert all(reason.strip() for reason in EXCLUDED_TYPES.values())
