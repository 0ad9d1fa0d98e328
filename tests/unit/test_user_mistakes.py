"""A user's mistakes: each input of tests/unit/user_mistakes.yaml gets its expected first line.

The answers follow the real tools' rules, read from their source:
- A key written twice in a stack file is refused: the Pulumi CLI decodes stack files with
  gopkg.in/yaml.v3 (pulumi/pulumi sdk/go/common/encoding/marshal.go), whose decoder refuses a
  mapping key already defined (go-yaml v3 decode.go, `uniqueKeys`).
- A top-level `environment:` imports Pulumi ESC environments (sdk/go/common/workspace/project.go,
  ProjectStack.Environment); a key without a value is read as "" with a warning
  (workspace/loaders.go, checkForEmptyConfig); `{secure: ...}` is an encrypted value.
- `--set` paths are `pulumi config set --path` paths (sdk/go/common/resource/properties_path.go,
  ParsePropertyPathStrict), set as config/object.go's Set does: an index replaces an item, the
  list's length appends one, anything past it is "array index out of range".
- An aws: key the provider does not know stops `pulumi up` with "did you mean"
  (pulumi/pulumi-terraform-bridge pkg/tfbridge CheckConfig, tests `levenshtein_correction`).
- A modality's port 65535 is refused by Orthanc (OrthancFramework RemoteModalityParameters.cpp,
  CheckPortNumber: "must be in range [1..65534]").
Only the config is read and checked here (no evaluation of the program), so the table stays fast.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from orthweb.config.problems import MOST_SHOWN, ConfigError
from orthweb.evaluate import PROJECT_ROOT
from orthweb.evaluate.overrides import apply_each, parse_assignment, parse_path, value_of
from orthweb.evaluate.run import checked_config

ROWS: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "user_mistakes.yaml").read_text())


def outcome(root: Path, stack: str, sets: list[str], home: Path) -> dict[str, Any]:
    """What orthweb answers: the first line of the error, else the first warning, else accepted."""
    overrides = {}
    for pair in sets:
        key, text = parse_assignment(pair)
        overrides[key] = value_of(text)
    try:
        config, _, _ = checked_config(root, stack, overrides, (), home)
    except ConfigError as error:
        lines = str(error).splitlines()
        assert lines == [problem.line() for problem in error.problems[:MOST_SHOWN]]
        return {"first": lines[0]}
    return {"warning": config.warnings[0]} if config.warnings else {"accepted": True}


def project_with(stack_file: str, directory: Path) -> Path:
    shutil.copy(PROJECT_ROOT / "Pulumi.yaml", directory)
    (directory / "Pulumi.t.yaml").write_text(stack_file)
    return directory


@pytest.mark.parametrize("row", ROWS, ids=[row["mistake"] for row in ROWS])
def test_each_mistake_gets_its_expected_first_line(row: dict[str, Any], tmp_path: Path, empty_home: Path) -> None:
    expected = {name: row[name] for name in ("first", "warning", "accepted") if name in row}
    if "stack_file" in row:
        assert outcome(project_with(row["stack_file"], tmp_path), "t", [], empty_home) == expected
    else:
        assert outcome(PROJECT_ROOT, "dev", row["set"], empty_home) == expected


def test_the_table_covers_every_kind_of_source() -> None:
    assert sum("set" in row for row in ROWS) >= 30 and sum("stack_file" in row for row in ROWS) >= 12
    # Every refusal names where the value came from: a --set, or a place in the stack file.
    for row in ROWS:
        if "first" in row:
            assert row["first"].startswith(("--set ", "Pulumi.t.yaml:")), row


def test_every_problem_of_a_run_is_reported_together(tmp_path: Path, empty_home: Path) -> None:
    root = project_with(
        "config:\n  orthweb:vpcCidr: 10.0.0.0/16\n  orthweb:vpcCidr: 10.1.0.0/16\n  aws:regoin: us-east-1\n", tmp_path
    )
    with pytest.raises(ConfigError) as caught:
        checked_config(root, "t", {"alarmEmails": "a@h.org", "environment": "staging"}, (), empty_home)
    sources = [problem.source for problem in caught.value.problems]
    assert sources == ["Pulumi.t.yaml:3:3", "--set alarmEmails", "Pulumi.t.yaml:4:3", "--set environment"]


def test_many_problems_are_capped_with_a_count(empty_home: Path) -> None:
    overrides = {f"unknownKey{index}": "x" for index in range(MOST_SHOWN + 3)}
    with pytest.raises(ConfigError) as caught:
        checked_config(PROJECT_ROOT, "dev", overrides, (), empty_home)
    lines = str(caught.value).splitlines()
    assert len(lines) == MOST_SHOWN + 1 and lines[-1] == "... and 3 more problems of the same run"


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        # Examples of valid paths from properties_path.go's documentation.
        ("root", ["root"]),
        ("root.nested", ["root", "nested"]),
        ('root["nested"]', ["root", "nested"]),
        ("root.array[0]", ["root", "array", 0]),
        ("root.array[0][1].nested", ["root", "array", 0, 1, "nested"]),
        ('root["key with \\"escaped\\" quotes"]', ["root", 'key with "escaped" quotes']),
        ('root["key with a ."]', ["root", "key with a ."]),
        ("foo-bar", ["foo-bar"]),
    ],
)
def test_paths_parse_as_the_pulumi_cli_parses_them(path: str, parts: list[Any]) -> None:
    assert parse_path(path) == parts


def test_an_index_replaces_an_item_appends_at_the_end_and_no_further() -> None:
    stack = {"orthweb:alarmEmails": ["a@h.org", "b@h.org"]}
    assert apply_each(stack, {"alarmEmails[0]": "c@h.org"}).values["orthweb:alarmEmails"] == ["c@h.org", "b@h.org"]
    assert apply_each(stack, {"alarmEmails[2]": "c@h.org"}).values["orthweb:alarmEmails"] == [
        "a@h.org",
        "b@h.org",
        "c@h.org",
    ]
    refused = apply_each(stack, {"alarmEmails[3]": "c@h.org"})
    assert refused.values == stack and len(refused.problems) == 1
    assert (
        "an index from 0 to 2" in refused.problems[0].allowed and refused.problems[0].source == "--set alarmEmails[3]"
    )


def test_the_cli_prints_each_problem_on_its_own_line_without_a_traceback(empty_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orthweb", "plan", "--set", "alarmEmails=a@h.org", "--set", "aws:regoin=us-east-1"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(empty_home), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert [line.split(":", 2)[:2] for line in lines] == [["orthweb", " --set alarmEmails"], ["orthweb", " --set aws"]]
