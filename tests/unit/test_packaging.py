"""The wheel is the product: the program, the operator commands and their data, and nothing of the
development tools (tools/: the runtime harness and the benchmarks). Installed with its runtime
dependencies alone, outside the checkout, it imports and its commands start; templates and data
ship inside it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Every module of the package, and what runs them in a fresh environment (`__main__` exits).
IMPORT_ALL = (
    "import importlib, pkgutil, orthweb\n"
    "names = [m.name for m in pkgutil.walk_packages(orthweb.__path__, 'orthweb.') if m.name != 'orthweb.__main__']\n"
    "for name in names: importlib.import_module(name)\n"
    "print(*names)"
)


def test_the_package_list_names_every_package_folder() -> None:
    listed = set(PROJECT["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "orthweb").rglob("__init__.py")} | {
        "orthweb.data",
        "orthweb.templates",
    }
    assert listed == on_disk


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy, so setuptools' build/ and egg-info folders never land in the checkout.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("orthweb", "templates"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("orthweb-*.whl")
    return built


def test_the_wheel_carries_every_template_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").glob("*.j2"):
        assert f"orthweb/templates/{template.name}" in names
    for data in (ROOT / "orthweb" / "data").glob("*.json"):
        assert f"orthweb/data/{data.name}" in names
    assert "orthweb/ops/compliance/skips.yaml" in names


def test_an_installed_wheel_renders_from_its_own_templates(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    probe = (
        "from orthweb.host.render import TEMPLATES_DIR; from orthweb.host.digest import templates_digest; "
        "print(TEMPLATES_DIR); print(templates_digest())"
    )
    # Run outside the checkout, with only the unpacked wheel importable.
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    templates_dir, digest = result.stdout.split()
    assert Path(templates_dir) == target / "orthweb" / "templates"
    from orthweb.host.digest import templates_digest

    assert digest == templates_digest()


def _modules_on_disk() -> set[str]:
    return {path.relative_to(ROOT).as_posix() for path in (ROOT / "orthweb").rglob("*.py")}


def _module_name(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def test_the_wheel_holds_the_package_modules_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"orthweb", wheel.name.split("-py3")[0] + ".dist-info"}
    assert {name for name in names if name.endswith(".py")} == _modules_on_disk()
    packages = {name.rsplit("/", 1)[0].replace("/", ".") for name in names if name.endswith("/__init__.py")}
    assert packages == set(PROJECT["tool"]["setuptools"]["packages"]) - {"orthweb.data", "orthweb.templates"}
    assert not {"orthweb.harness", "orthweb.bench", "tools.harness", "tools.bench"} & packages


PIP = (sys.executable, "-m", "pip")


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]


@pytest.fixture(scope="module")
def runtime_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel and its runtime dependencies only (pip resolves them
    from its configured index and cache; no byte-compiling, which would take most of the time)."""
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [*PIP, "--python", str(python), "install", "-q", "--no-compile", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return venv


def _run(venv: Path, *command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_the_installed_wheel_has_no_test_dependency_and_every_module_imports(
    runtime_venv: Path, tmp_path: Path
) -> None:
    test_only = [_requirement_name(r) for r in PROJECT["project"]["optional-dependencies"]["test"]]
    probe = (
        f"import importlib.metadata as m\nfor name in {test_only!r}:\n"
        "    try: m.version(name); print(name)\n    except m.PackageNotFoundError: pass"
    )
    installed = _run(runtime_venv, "python", "-I", "-c", probe, cwd=tmp_path)
    assert installed.returncode == 0 and installed.stdout == "", installed.stdout + installed.stderr
    imported = _run(runtime_venv, "python", "-I", "-c", IMPORT_ALL, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr[-3000:]
    expected = {_module_name(path) for path in _modules_on_disk()} - {"orthweb", "orthweb.__main__"}
    assert set(imported.stdout.split()) == expected


@pytest.mark.parametrize("arguments", [["--help"], ["plan", "--help"]])
def test_the_installed_command_starts(runtime_venv: Path, tmp_path: Path, arguments: list[str]) -> None:
    done = _run(runtime_venv, "orthweb", *arguments, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: orthweb {' '.join(arguments[:-1])}".rstrip())
    if arguments == ["--help"]:
        assert "bench" not in done.stdout and "plan" in done.stdout


def test_the_bench_without_the_test_extras_says_what_to_run(runtime_venv: Path) -> None:
    done = _run(runtime_venv, "python", "-m", "tools.bench", "--no-variants", cwd=ROOT)
    assert done.returncode == 2
    assert re.fullmatch(r"bench: Python package \S+ is missing: run scripts/setup --test\n", done.stderr), done.stderr
