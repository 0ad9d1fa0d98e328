"""Production defaults are decided once (orthweb/infra/durability.py), within what AWS accepts, and
nothing that builds the stack tests the environment itself. What each setting does to the evaluated
resources is tests/graph/test_destroy.py's and the component tests'."""

from __future__ import annotations

import ast

from orthweb.evaluate import PROJECT_ROOT
from orthweb.infra.durability import DURABILITY
from orthweb.shared.constants import DEV, ENVIRONMENTS, PROD
from tests.python_source import parse

# The components and their composer (infra/stack.py, infra/serving.py).
BUILDERS = sorted((PROJECT_ROOT / "orthweb" / "infra").glob("*.py"))


def test_prod_keeps_and_guards_its_data_and_dev_is_disposable() -> None:
    prod, dev = DURABILITY[PROD], DURABILITY[DEV]
    assert prod.keep_data and prod.deletion_protection and prod.multi_az and not prod.apply_database_changes_now
    assert not (dev.keep_data or dev.deletion_protection or dev.multi_az) and dev.apply_database_changes_now
    assert prod.backup_retention_days > dev.backup_retention_days
    assert set(DURABILITY) == set(ENVIRONMENTS)


def test_every_window_is_one_aws_accepts() -> None:
    """KMS ScheduleKeyDeletion: 7 to 30 days; Secrets Manager DeleteSecret: 0 (ForceDeleteWithoutRecovery)
    or 7 to 30; RDS BackupRetentionPeriod: 1 to 35 (0 turns backups off). Sources: the AWS API references
    of ScheduleKeyDeletion, DeleteSecret and CreateDBInstance."""
    for durability in DURABILITY.values():
        assert 7 <= durability.key_deletion_window_days <= 30
        assert durability.secret_recovery_window_days == 0 or 7 <= durability.secret_recovery_window_days <= 30
        assert 1 <= durability.backup_retention_days <= 35


def _environment_tests(source: str, where: str) -> list[str]:
    """Where a module reads the environment or a production flag instead of its Durability."""
    found = []
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Attribute | ast.Name):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if name in ("is_production", "environment", "production"):
                found.append(f"{where}:{node.lineno} {name}")
        elif isinstance(node, ast.Constant) and node.value in ENVIRONMENTS:
            found.append(f"{where}:{node.lineno} {node.value!r}")
    return found


def test_no_component_nor_the_composer_tests_the_environment() -> None:
    assert {"stack.py", "serving.py", "database.py"} <= {path.name for path in BUILDERS}
    found = [
        line
        for path in BUILDERS
        if path.name != "durability.py"
        for line in _environment_tests(path.read_text(encoding="utf-8"), str(path.relative_to(PROJECT_ROOT)))
    ]
    assert found == []


def test_the_rule_finds_an_environment_test() -> None:
    planted = "def f(cfg, args):\n    return 30 if cfg.is_production else 7, args.environment == 'prod'\n"
    assert _environment_tests(planted, "x.py") == ["x.py:2 is_production", "x.py:2 environment", "x.py:2 'prod'"]
