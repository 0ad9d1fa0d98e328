"""`pulumi up` checks Pulumi.yaml and the stack's config before the program runs; so do we.

The rules are the CLI's (pulumi/pulumi sdk/go/common/workspace): a typed project key without a
default is required, values must have the declared type, `secret: true` keys must be encrypted.
Every stack file in the repository, and a stack with no config at all, must pass them, and what the
CLI then hands the program must pass the program's own validation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orthweb.config.stack_config import load_config
from orthweb.evaluate import PROJECT_ROOT
from orthweb.evaluate.project_config import (
    ProjectConfigError,
    StackValue,
    declarations,
    engine_value,
    merge,
    stack_values,
)

PROJECT = yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text())
STACK_FILES = sorted(PROJECT_ROOT.glob("Pulumi.*.yaml"))


def test_the_project_file_is_one_the_cli_accepts() -> None:
    assert declarations(PROJECT)
    assert STACK_FILES, "no stack files found"


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda path: path.name)
def test_every_stack_file_passes_the_cli_and_then_the_program(stack_file: Path, empty_home: Path) -> None:
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    config = yaml.safe_load(stack_file.read_text())["config"]
    merged = merge(PROJECT, stack, stack_values(config, PROJECT["name"]))
    engine = {key: engine_value(value.value) for key, value in merged.items()}
    secret_keys = frozenset(key for key, value in merged.items() if value.secure)
    assert load_config(engine, stack=stack, secret_keys=secret_keys, home=empty_home).stack == stack


def test_a_stack_with_no_config_passes_the_cli_and_deploys_the_defaults(empty_home: Path) -> None:
    merged = merge(PROJECT, "scratch", {})
    engine = {key: engine_value(value.value) for key, value in merged.items()}
    assert load_config(engine, stack="scratch", home=empty_home) == load_config({}, stack="scratch", home=empty_home)


# --- the rules themselves, on small projects ------------------------------------------------------

SMALL = {
    "name": "p",
    "runtime": "python",
    "config": {
        "another": {"type": "string"},
        "values": {"type": "array", "items": {"type": "string"}},
        "count": {"type": "integer", "default": 3},
        "password": {"type": "string", "secret": True},
    },
}


def test_typed_keys_without_default_are_required_like_the_cli_says() -> None:
    with pytest.raises(
        ProjectConfigError, match=r"Stack 'dev' is missing configuration values 'another', 'password' and 'values'"
    ):
        merge(SMALL, "dev", {})


def test_one_missing_key_is_named_alone() -> None:
    stack = {"p:another": StackValue("x"), "p:values": StackValue(["a"]), "p:count": StackValue("2")}
    with pytest.raises(ProjectConfigError, match=r"missing configuration value 'password'$"):
        merge(SMALL, "dev", stack)


def test_a_secret_key_must_be_encrypted() -> None:
    stack = {"p:another": StackValue("x"), "p:values": StackValue(["a"]), "p:password": StackValue("plain")}
    with pytest.raises(ProjectConfigError, match="'password' must be encrypted as it's secret"):
        merge(SMALL, "dev", stack)


def test_a_secret_key_with_a_default_fails_every_stack_that_does_not_set_it() -> None:
    # The CLI stores the default as a plain value, then finds a plain value on a secret key.
    project = {"name": "p", "config": {"key": {"type": "string", "secret": True, "default": ""}}}
    with pytest.raises(ProjectConfigError, match="must be encrypted"):
        merge(project, "dev", {})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("count", StackValue("three"), "'count' must be of type 'integer'"),
        ("values", StackValue("0.0.0.0/0"), "'values' must be of type 'array<string>'"),
        ("values", StackValue([1, "a"]), "'values' must be of type 'array<string>'"),
    ],
)
def test_values_of_the_wrong_type_are_refused(key: str, value: StackValue, expected: str) -> None:
    stack = {"p:another": StackValue("x"), "p:values": StackValue(["a"]), "p:password": StackValue("s", secure=True)}
    stack[f"p:{key}"] = value
    with pytest.raises(ProjectConfigError, match=expected):
        merge(SMALL, "dev", stack)


def test_whole_numbers_and_digit_strings_are_integers_as_for_the_cli() -> None:
    stack = {"p:another": StackValue("x"), "p:values": StackValue([]), "p:password": StackValue("s", secure=True)}
    for count in ("5", 5, 5.0):
        assert merge(SMALL, "dev", {**stack, "p:count": StackValue(count)})["p:count"].value == count


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"type": "array"}, "does not specify the underlying type via the 'items' attribute"),
        ({"type": "object"}, "value must be one of string, integer, boolean, array"),
        ({"type": "integer", "default": "many"}, "is not of the expected type 'integer'"),
        ({"type": "string", "defualt": "x"}, "additional properties"),
    ],
)
def test_bad_declarations_are_refused(entry: dict, expected: str) -> None:
    with pytest.raises(ProjectConfigError, match=expected):
        declarations({"name": "p", "config": {"key": entry}})


def test_stack_file_scalars_are_text_and_secure_values_are_marked() -> None:
    values = stack_values({"aws:region": "us-east-1", "count": 3, "flag": True, "key": {"secure": "v1:abc"}}, "p")
    assert values["p:count"] == StackValue("3") and values["p:flag"] == StackValue("true")
    assert values["p:key"].secure and values["aws:region"].value == "us-east-1"
