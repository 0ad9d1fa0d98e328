"""An installed wheel of the project works without the checkout: templates and data ship inside it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_list_names_every_package_folder() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
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
    assert "orthweb/compliance/skips.yaml" in names


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
