"""The reviewed skips file is well-formed, and a malformed one is refused with a reason."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from orthweb.ops.compliance.skips import SkipsFileError, load_skips
from tests.compliance.expected_skips import EXPECTED_SKIPS

pytestmark = pytest.mark.compliance


def test_every_entry_says_why_and_is_expected_on_a_scanned_stack() -> None:
    skips = load_skips()
    # The file skips nothing that no scanned stack is expected to skip, and nothing expected is missing.
    assert {(s.id, r) for s in skips for r in s.resources} == set().union(*EXPECTED_SKIPS.values())
    for skip in skips:
        assert skip.reason and "\n" not in skip.reason and len(skip.reason) < 240, skip.id
        assert skip.resources


def test_the_compliance_guide_has_a_row_for_every_entry() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "compliance.md").read_text(encoding="utf-8")
    rows = Counter(line.split()[1] for line in guide.splitlines() if line.startswith("| CKV"))
    assert rows == Counter(skip.id for skip in load_skips())


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("- {id: CKV_AWS_88, resources: [aws_instance.a]}", "reason"),
        ("- {id: CKV_AWS_88, resources: [], reason: why}", "resources"),
        ("- {id: CKV_AWS_88, resources: ['*'], reason: why}", "resources"),
        ("- {id: ckv_aws_88, resources: [aws_instance.a], reason: why}", "check ID"),
        ("- {id: CKV_AWS_88, resources: [aws_instance.a], reason: why, stacks: [dev]}", "unknown keys"),
        ("- {id: CKV_AWS_88, resources: [aws_instance.a], reason: why, environments: [test]}", "environments"),
        ("- {id: CKV_AWS_88, resources: [aws_instance.a], reason: why, topologies: [mesh]}", "topologies"),
        ("- {id: CKV_AWS_88, resources: [aws_instance.a], reason: why, tls_ends_at: [nginx]}", "tls_ends_at"),
        ("- {id: CKV_AWS_88, resources: [aws_instance.a, aws_instance.a], reason: why}", "twice"),
    ],
)
def test_malformed_entries_are_refused(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "skips.yaml"
    path.write_text(f"skips:\n  {entry}\n", encoding="utf-8")
    with pytest.raises(SkipsFileError, match=problem):
        load_skips(path)


def test_an_entry_for_one_tls_end_is_neither_applied_nor_expected_at_the_other() -> None:
    nlb = "aws_lb.orthweb_load_balancer_nlb"
    (access_logs,) = [s for s in load_skips() if s.id == "CKV_AWS_91" and nlb in s.resources]
    assert access_logs.applies("CKV_AWS_91", nlb, "prod", "scale-out", "basic", "envoy")
    assert not access_logs.applies("CKV_AWS_91", nlb, "prod", "scale-out", "basic", "load-balancer")
    assert not access_logs.expected("prod", "scale-out", "basic", "load-balancer")
