"""The package's import graph follows its layers (docs/DESIGN.md); a test fails when a rule is broken.

- nothing in orthweb (what the wheel ships) imports the development tools in tools/ (the runtime
  harness and the benchmarks), which are not installed with it;
- orthweb.shared (facts every layer shares) imports nothing of orthweb outside itself, no Pulumi
  and no AWS SDK, so every layer may use it; within it, constants, sizing and redaction import
  nothing of orthweb at all;
- orthweb.config (read and checked once) does not import the host layer, the composition of the
  program or the operator side; its keys, checks and answer type do not import Pulumi;
- orthweb.infra (the Pulumi program: its components and their composition) and orthweb.host (what
  runs on a host) never import the operator tools, the offline evaluation or the CLI;
- orthweb.host is pure: no Pulumi, no infrastructure and no config reading;
- orthweb.clients (the DICOM and DICOMweb clients verify speaks) needs nothing of orthweb but the
  shared facts, so the harness can build on it without the operator tools;
- the offline evaluation never imports the operator tools (checkov's scan is one of them), and
  nothing but the commands imports the commands and the CLI;
- the runtime harness does not import the operator tools or the benchmarks built on it.

Functions and methods stay short enough to read at once: at most MAX_FUNCTION_LINES lines each.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.python_source import parse

ROOT = Path(__file__).resolve().parents[2]
# The shipped package, and the development tools kept out of it.
PACKAGES = (ROOT / "orthweb", ROOT / "tools")
# Modules directly in orthweb/ (its .py files and its packages; __init__ and __main__ are the
# package's own files, data/ holds no code): the rest lives in subpackages named for where it runs.
MAX_TOP_LEVEL_MODULES = 8
# Counted from `def` (decorators excluded) to the last line of the body, docstring and comments included.
MAX_FUNCTION_LINES = 60

# The operator's tools (checkov's scan among them), and the commands and CLI in front of them.
OPERATOR_SIDE = ("orthweb.ops", "orthweb.commands")
# The program evaluated offline under the mock engine: built on the program, used by the operator side.
OFFLINE = ("orthweb.evaluate",)
PULUMI = ("pulumi", "pulumi_aws", "pulumi_random", "pulumi_tls")
COMPOSITION = ("orthweb.infra.stack", "orthweb.infra.serving")
RULES: dict[str, tuple[str, ...]] = {
    "orthweb": ("tools", "tests"),
    "orthweb.shared": ("orthweb", *PULUMI, "boto3", "botocore"),
    "orthweb.shared.constants": ("orthweb",),
    # What every layer passes its messages through: it depends on nothing of orthweb.
    "orthweb.shared.redaction": ("orthweb",),
    "orthweb.shared.sizing": ("orthweb",),
    "orthweb.config": (*OPERATOR_SIDE, *OFFLINE, *COMPOSITION, "orthweb.host", "pulumi_aws"),
    "orthweb.config.keys": ("pulumi",),
    "orthweb.config.validation": ("pulumi",),
    "orthweb.config.topology": ("pulumi", "orthweb.infra"),
    # The answer type every input check raises: below the config, beside redaction.
    "orthweb.config.problems": ("pulumi", "orthweb.infra"),
    "orthweb.infra": (*OPERATOR_SIDE, *OFFLINE),
    # Code Lambda runs: packaged alone, so nothing of orthweb, and no Pulumi.
    "orthweb.infra.functions": ("orthweb", *PULUMI),
    "orthweb.host": (*OPERATOR_SIDE, *OFFLINE, "orthweb.infra", "orthweb.config", *PULUMI),
    "orthweb.clients": (*OPERATOR_SIDE, *OFFLINE, "orthweb.infra", "orthweb.host", "orthweb.config", *PULUMI, "boto3"),
    "orthweb.evaluate": ("orthweb.ops", "orthweb.commands"),
    "orthweb.ops": ("orthweb.commands",),
    "tools.harness": (*OPERATOR_SIDE, "tools.bench"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str) -> set[str]:
    """Every module `source` imports, at any depth (function-level imports count too)."""
    found: set[str] = set()
    for node in ast.walk(parse(source)):
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


def top_level_modules(package: Path) -> list[str]:
    files = [path.stem for path in package.glob("*.py") if path.stem not in ("__init__", "__main__")]
    return sorted(files + [init.parent.name for init in package.glob("*/__init__.py")])


def test_the_package_keeps_its_code_in_subpackages() -> None:
    top_level = top_level_modules(PACKAGES[0])
    assert len(top_level) <= MAX_TOP_LEVEL_MODULES, top_level


def test_top_level_modules_are_counted_as_files_and_packages(tmp_path: Path) -> None:
    for name in ("__init__.py", "__main__.py", "cli.py", "shared/__init__.py", "shared/sizing.py", "data/prices.json"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    assert top_level_modules(tmp_path) == ["cli", "shared"]


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
        ("orthweb.config.stack_config", "from orthweb.host.render import render_host_files\n"),
        ("orthweb.shared.sizing", "from orthweb.shared.constants import MAX_REPLICAS\n"),
        ("orthweb.shared.telemetry", "from orthweb.config.keys import KEYS\n"),
        ("orthweb.shared.sso", "import pulumi_aws\n"),
        ("orthweb.config.validation", "def f():\n    import pulumi\n"),
        ("orthweb.config.stack_config", "from orthweb.infra.stack import build_stack\n"),
        ("orthweb.infra.stack", "from orthweb.evaluate import evaluate\n"),
        ("orthweb.evaluate.run", "from orthweb.ops.compliance.scan import scan\n"),
        ("orthweb.ops.cost", "from orthweb.commands.cli import main\n"),
        ("orthweb.infra.serving", "from orthweb.commands.common import stack_region\n"),
        ("orthweb.infra.network", "import tools.harness.stack\n"),
        ("orthweb.ops.verify.dicom_checks", "from tools.harness.dicom import local_endpoint\n"),
        ("orthweb.clients.dicom", "from orthweb.ops.aws import OpsError\n"),
        ("tools.harness.stack", "from orthweb.ops.tagged import find_hosts\n"),
    ],
)
def test_a_broken_rule_is_reported(module: str, source: str) -> None:
    assert violations(module, imports_of(source, module))


# What composes the components: it says which resources each uses; each writes its own policies.
COMPOSERS = ("orthweb.infra.stack", "orthweb.infra.serving")


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
    assert not violations("orthweb.shared.access", imports_of("from orthweb.shared.sso import ROLES\n", "x"))
    assert not violations("orthweb.config.stack_config", imports_of("from orthweb.infra import instance_types\n", "x"))
    assert not violations(
        "orthweb.infra.stack", imports_of("from orthweb.config.stack_config import StackConfig\n", "x")
    )
    assert not violations("tools.harness.dicom", imports_of("from orthweb.clients.dicom import echo\n", "x"))
    assert not violations("orthweb.ops.verify.dicom_checks", imports_of("from orthweb.clients import dicom\n", "x"))


def long_functions(source: str, module: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Every function or method (nested ones too) longer than `limit` lines, as `module:line name (n lines)`."""
    found = []
    for node in ast.walk(parse(source)):
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
