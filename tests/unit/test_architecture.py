"""The package's import graph follows its layers; a test fails when a rule is broken.

- nothing in orthweb (what the wheel ships) imports the development tools in tools/ (the runtime
  harness and the benchmarks), which are not installed with it;
- orthweb.infra (the Pulumi program's parts) and orthweb.host (what runs on a host) never import
  the operator tools or the CLI;
- orthweb.clients (the DICOM and DICOMweb clients verify speaks) needs nothing of orthweb but its
  constants, so the harness can build on it without the operator tools;
- orthweb.host is pure: no Pulumi and no infrastructure;
- orthweb.config (with its table of keys, their checks and the Problem they answer with) does not
  import the host layer; orthweb.constants and orthweb.sizing import
  nothing of orthweb, so every layer may use them; orthweb.telemetry (the names hosts report
  under) imports only constants, so the host layer, the program and the operator tools share it;
  orthweb.access (the role table) likewise imports only constants and sso.

Functions and methods stay short enough to read at once: at most MAX_FUNCTION_LINES lines each.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The shipped package, and the development tools kept out of it.
PACKAGES = (ROOT / "orthweb", ROOT / "tools")
# Counted from `def` (decorators excluded) to the last line of the body, docstring and comments included.
MAX_FUNCTION_LINES = 60

OPERATOR_SIDE = ("orthweb.ops", "orthweb.commands", "orthweb.cli")
RULES: dict[str, tuple[str, ...]] = {
    "orthweb": ("tools", "tests"),
    "orthweb.infra": (*OPERATOR_SIDE, "orthweb.evaluate", "orthweb.compliance"),
    "orthweb.host": (
        *OPERATOR_SIDE,
        "orthweb.evaluate",
        "orthweb.compliance",
        "orthweb.infra",
        "orthweb.stack",
        "orthweb.config",
        "pulumi",
        "pulumi_aws",
        "pulumi_random",
        "pulumi_tls",
    ),
    "orthweb.stack": (*OPERATOR_SIDE, "orthweb.evaluate", "orthweb.compliance"),
    "orthweb.config": (*OPERATOR_SIDE, "orthweb.host", "orthweb.stack", "orthweb.evaluate", "pulumi_aws"),
    "orthweb.config_keys": (*OPERATOR_SIDE, "orthweb.host", "orthweb.stack", "orthweb.evaluate", "pulumi"),
    "orthweb.validation": (*OPERATOR_SIDE, "orthweb.host", "orthweb.stack", "orthweb.evaluate", "pulumi"),
    # The answer type every input check raises: below the config, beside redaction.
    "orthweb.problems": (
        *OPERATOR_SIDE,
        "orthweb.host",
        "orthweb.stack",
        "orthweb.evaluate",
        "orthweb.infra",
        "pulumi",
    ),
    "orthweb.constants": ("orthweb",),
    # What every layer passes its messages through: it depends on nothing of orthweb.
    "orthweb.redaction": ("orthweb",),
    "orthweb.sizing": ("orthweb",),
    "orthweb.telemetry": (
        *OPERATOR_SIDE,
        "orthweb.evaluate",
        "orthweb.compliance",
        "orthweb.infra",
        "orthweb.host",
        "orthweb.stack",
        "orthweb.config",
        "orthweb.sizing",
        "pulumi",
        "pulumi_aws",
    ),
    # The role table (who may do what over HTTPS): rendered by the host layer, read by the harness.
    "orthweb.access": (
        *OPERATOR_SIDE,
        "orthweb.evaluate",
        "orthweb.compliance",
        "orthweb.infra",
        "orthweb.host",
        "orthweb.stack",
        "orthweb.config",
        "pulumi",
        "pulumi_aws",
    ),
    "orthweb.clients": (
        *OPERATOR_SIDE,
        "orthweb.evaluate",
        "orthweb.compliance",
        "orthweb.infra",
        "orthweb.host",
        "orthweb.stack",
        "orthweb.config",
        "pulumi",
        "boto3",
    ),
    "tools.harness": (*OPERATOR_SIDE, "tools.bench"),
    "orthweb.ops": ("orthweb.commands", "orthweb.cli"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str) -> set[str]:
    """Every module `source` imports, at any depth (function-level imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # Relative imports would hide their target from this check; the package uses none.
            assert node.level == 0, f"{module}: relative import of {node.module!r}"
            base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def violations(module: str, imported: set[str]) -> list[str]:
    broken = []
    for layer, forbidden in RULES.items():
        if module != layer and not module.startswith(layer + "."):
            continue
        for name in sorted(imported):
            for banned in forbidden:
                if (name == banned or name.startswith(banned + ".")) and not _same_layer(name, layer):
                    broken.append(f"{module} imports {name} ({layer} must not import {banned})")
    return broken


def _same_layer(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def all_modules() -> list[tuple[str, str]]:
    paths = sorted(path for package in PACKAGES for path in package.rglob("*.py"))
    return [(module_name(p), p.read_text(encoding="utf-8")) for p in paths]


def test_every_module_follows_the_import_rules() -> None:
    broken = [v for module, source in all_modules() for v in violations(module, imports_of(source, module))]
    assert not broken, "\n".join(broken)


def test_every_layer_named_in_the_rules_exists() -> None:
    modules = {module for module, _ in all_modules()}
    for layer in RULES:
        assert any(m == layer or m.startswith(layer + ".") for m in modules), layer


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("orthweb.infra.hosts", "from orthweb.ops.failover import Failover\n"),
        ("orthweb.host.render", "def f():\n    import pulumi\n"),
        ("orthweb.host.context", "from orthweb.infra import tags\n"),
        ("orthweb.config", "from orthweb.host.render import render_host_files\n"),
        ("orthweb.sizing", "from orthweb.constants import MAX_REPLICAS\n"),
        ("orthweb.infra.network", "import tools.harness.stack\n"),
        ("orthweb.ops.verify.dicom_checks", "from tools.harness.dicom import local_endpoint\n"),
        ("orthweb.clients.dicom", "from orthweb.ops.aws import OpsError\n"),
        ("tools.harness.stack", "from orthweb.ops.tagged import find_hosts\n"),
    ],
)
def test_a_broken_rule_is_reported(module: str, source: str) -> None:
    assert violations(module, imports_of(source, module))


# What composes the components: it says which resources each uses; each writes its own policies.
COMPOSERS = ("orthweb.stack", "orthweb.serving")


def test_the_composer_writes_no_policy_document() -> None:
    sources = dict(all_modules())
    for composer in COMPOSERS:
        imported = imports_of(sources[composer], composer)
        assert not [name for name in imported if name.startswith("orthweb.infra.policies")], composer
        assert "orthweb.infra.policies" not in sources[composer] and "policies." not in sources[composer]


def test_allowed_imports_pass() -> None:
    assert not violations("orthweb.ops.failover", imports_of("from orthweb.infra.tags import stack_tags\n", "x"))
    assert not violations("orthweb.infra.hosts", imports_of("from orthweb.host.render import TEMPLATES_DIR\n", "x"))
    assert not violations("orthweb.host.render", imports_of("from orthweb.host.layout import APP_DIR\n", "x"))
    assert not violations("tools.harness.dicom", imports_of("from orthweb.clients.dicom import echo\n", "x"))
    assert not violations("orthweb.ops.verify.dicom_checks", imports_of("from orthweb.clients import dicom\n", "x"))


def long_functions(source: str, module: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Every function or method (nested ones too) longer than `limit` lines, as `module:line name (n lines)`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                found.append(f"{module}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_every_function_is_at_most_sixty_lines() -> None:
    offenders = [found for module, source in all_modules() for found in long_functions(source, module)]
    assert not offenders, f"longer than {MAX_FUNCTION_LINES} lines:\n" + "\n".join(offenders)


def _function(lines: int, indent: str = "") -> str:
    """Source of an async function exactly `lines` long, its `def` line included."""
    body = "".join(f"{indent}    x{i} = {i}\n" for i in range(lines - 1))
    return f"{indent}async def grown(self):\n{body}"


def test_a_long_function_is_reported() -> None:
    assert long_functions(_function(MAX_FUNCTION_LINES), "m") == []
    assert long_functions(_function(MAX_FUNCTION_LINES + 1), "m") == ["m:1 grown (61 lines)"]
    method = "class C:\n" + _function(MAX_FUNCTION_LINES + 1, indent="    ") + "\ndef short():\n    return 1\n"
    assert long_functions(method, "m") == ["m:2 grown (61 lines)"]
