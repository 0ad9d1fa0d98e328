"""One table of config keys (orthweb/config/keys.py): every other home of a key is derived from its
row or equal to it, and every refusal is a Problem naming the key."""

from __future__ import annotations

import dataclasses
import json
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from orthweb.config.keys import (
    KEYS,
    OPTION_NAMES,
    OPTIONS,
    OPTIONS_KEY,
    SECRET_KEYS,
    TERRAFORM_NAMES,
    ByEnvironment,
    ConfigKey,
    project_declarations,
    with_project_config,
    with_readme_tables,
)
from orthweb.config.problems import ConfigError, Problem
from orthweb.config.stack_config import DeploymentOptions, StackConfig, default_options, load_config
from orthweb.config.validation import IntIn
from orthweb.evaluate import PROJECT_ROOT
from orthweb.evaluate.project_config import declarations
from orthweb.shared import redaction
from orthweb.shared.constants import ENVIRONMENTS

ROWS = (*KEYS, *OPTIONS)
# StackConfig fields that no single key fills: assembled from several keys, or not config at all.
ASSEMBLED = {
    "stack",
    "options",
    "region",
    "public_key",
    "public_key_source",
    "site_certificate",
    "sso",
    "warnings",
}


def test_readme_tables_are_the_tables_rendering() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert with_readme_tables(readme) == readme, "run scripts/config-docs"


def test_pulumi_yaml_config_block_is_the_tables_rendering_and_the_cli_accepts_it() -> None:
    text = (PROJECT_ROOT / "Pulumi.yaml").read_text(encoding="utf-8")
    assert with_project_config(text) == text, "run scripts/config-docs"
    project = yaml.safe_load(text)
    assert declarations(project) == project_declarations() == project["config"]


def test_each_dataclass_field_is_a_row_and_each_row_a_field() -> None:
    option_fields = {f.name for f in dataclasses.fields(DeploymentOptions)}
    assert option_fields == {row.field for row in OPTIONS}
    stack_fields = {f.name for f in dataclasses.fields(StackConfig)}
    assert stack_fields == {row.field for row in KEYS if row.field} | ASSEMBLED


@pytest.mark.parametrize("row", ROWS, ids=[row.path for row in ROWS])
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_default_passes_its_own_check(row: ConfigKey, environment: str) -> None:
    row.check(row.path, row.default_in(environment))
    if row.example is not None:
        row.check(row.path, row.example)
        row.check(row.path, json.dumps(row.example))  # as the engine hands lists and objects over


def test_defaults_are_what_an_empty_stack_gets(empty_home: Path) -> None:
    for environment in ENVIRONMENTS:
        config = load_config({"orthweb:environment": environment}, stack="t", home=empty_home)
        assert config.options == default_options(environment)
        for row in OPTIONS:
            assert getattr(config.options, row.field) == row.check(row.path, row.default_in(environment))
    assert default_options("prod") != default_options("dev")


def test_only_options_differ_by_environment_and_declared_keys_have_one_default() -> None:
    # The environment is itself a top-level key: a top-level default cannot depend on it.
    assert not [row.name for row in KEYS if isinstance(row.default, ByEnvironment)]
    assert {row.name for row in OPTIONS if isinstance(row.default, ByEnvironment)} >= {"logRetentionDays"}
    assert not [row.name for row in OPTIONS if row.declared or row.secret]
    declared = {row.name for row in KEYS if row.declared}
    assert not declared & set(SECRET_KEYS), "a secret key with a default fails every stack that does not set it"
    assert OPTIONS_KEY not in declared


def test_docs_are_one_table_cell_and_name_the_bounds_their_check_enforces() -> None:
    for row in ROWS:
        assert row.doc and "\n" not in row.doc and "|" not in row.doc, row.name
        if isinstance(row.check, IntIn):
            assert f"{row.check.low} to {row.check.high}" in row.doc, row.name


def test_names_are_unique_and_terraform_names_point_at_keys() -> None:
    assert len({row.path for row in ROWS}) == len(ROWS)
    assert set(TERRAFORM_NAMES.values()) <= {row.name for row in ROWS}
    assert TERRAFORM_NAMES["DeploymentOptions"] == OPTIONS_KEY and "OrthancImg" in TERRAFORM_NAMES
    assert set(OPTION_NAMES) == {row.name for row in OPTIONS}


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(string.printable, max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(row=st.sampled_from(ROWS), value=_JSONISH)
def test_every_refusal_is_a_problem_about_its_own_key(row: ConfigKey, value: Any) -> None:
    """Whatever a check is given, it returns a value or raises ConfigError whose Problems name the
    key (or one of its items) and print as one line."""
    try:
        row.check(row.path, value)
    except ConfigError as error:
        assert error.problems and all(isinstance(problem, Problem) for problem in error.problems)
        assert all(problem.key.startswith(row.path) for problem in error.problems), error.problems
        assert "\n" not in str(error)


def test_a_problem_names_its_source_and_example_in_its_line() -> None:
    problem = Problem("alarmEmails", "oncall@example.org", "a list of e-mail addresses", example=["a@example.org"])
    assert problem.line() == (
        "config orthweb:alarmEmails = 'oncall@example.org' is invalid: a list of e-mail addresses, "
        'e.g. ["a@example.org"]'
    )
    located = problem.from_source("--set alarmEmails")
    # The example is written the way the value was given: a --set option, or a stack file's line.
    assert located.line() == (
        "--set alarmEmails: config orthweb:alarmEmails = 'oncall@example.org' is invalid: a list of e-mail "
        """addresses, e.g. --set 'alarmEmails=["a@example.org"]'"""
    )
    assert problem.from_source("Pulumi.dev.yaml:9:3").line().endswith('e.g. orthweb:alarmEmails: ["a@example.org"]')
    assert str(ConfigError(problem, located)) == f"{problem.line()}\n{located.line()}"


def test_a_problem_never_shows_a_secret_value_key_or_source() -> None:
    secret = "hunter2-Xq9#kV7$pL4!zR8@wN3%"
    redaction.register(secret)
    try:
        line = Problem(secret, secret, f"not {secret}", source=f"--set x={secret}").line()
    finally:
        redaction.forget_all()
    assert secret not in line and secret[:16] not in line
