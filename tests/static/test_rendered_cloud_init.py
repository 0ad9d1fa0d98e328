"""cloud-init user data: valid for cloud-init, a small bootstrap naming the host's bundle, pinned,
secret-free."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from orthweb.host.context import HostAppContext
from orthweb.host.layout import APP_DIR, HOST_FILES, USER_DATA_FILES
from orthweb.host.render import render_host
from tests.static.static_checks import CheckFailed, cloud_init_validate, first_boot_commands, require_tool


@pytest.fixture(scope="module")
def cloud_config(rendered: dict[str, str]) -> dict[str, Any]:
    return yaml.safe_load(rendered["cloud-init.yaml"])


def test_cloud_init_accepts_the_user_data(rendered: dict[str, str], tmp_path: Path) -> None:
    cloud_init_validate(rendered["cloud-init.yaml"], tmp_path)


def test_a_misspelled_top_level_key_is_caught(rendered: dict[str, str], tmp_path: Path) -> None:
    broken = rendered["cloud-init.yaml"].replace("\nruncmd:", "\nruncmds:", 1)
    with pytest.raises(CheckFailed, match="runcmds"):
        cloud_init_validate(broken, tmp_path)


def test_write_files_carries_the_bootstrap_and_the_bundle_the_rest(
    cloud_config: dict[str, Any], rendered: dict[str, str], app_context: HostAppContext
) -> None:
    written = {entry["path"]: entry for entry in cloud_config["write_files"]}
    assert set(written) == {f.path for f in USER_DATA_FILES}
    for host_file in USER_DATA_FILES:
        entry = written[host_file.path]
        assert entry["content"] == rendered[host_file.name], host_file.name
        assert (entry["permissions"], entry["owner"]) == (host_file.mode, "root:root")
    bundle = render_host(app_context).bundle
    assert {name: rendered[name] for name in bundle.files} == dict(bundle.files)
    with tarfile.open(fileobj=io.BytesIO(bundle.archive)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {f.path.lstrip("/") for f in HOST_FILES}
    for host_file in HOST_FILES:
        member = members[host_file.path.lstrip("/")]
        assert (oct(member.mode), member.uid, member.gid) == (oct(int(host_file.mode, 8)), 0, 0), host_file.name
    scripts = [f for f in (*HOST_FILES, *USER_DATA_FILES) if f.name.endswith(".sh")]
    assert scripts and all(f.mode == "0700" for f in scripts)


def test_installs_docker_and_starts_the_stack_at_every_boot(
    cloud_config: dict[str, Any], rendered: dict[str, str]
) -> None:
    assert {"docker", "jq", "tar", "awscli-2"} <= set(cloud_config["packages"])
    commands = first_boot_commands(rendered)
    assert commands[0] == "/opt/orthweb/bootstrap.sh", "the bundle is checked before anything runs"
    assert "systemctl enable --now docker.service" in commands
    assert "systemctl enable orthweb.service orthweb-refresh.timer" in commands


def test_orthweb_unit_fetches_secrets_before_every_start(rendered: dict[str, str]) -> None:
    unit = rendered["orthweb.service"]
    assert f"ExecStart={APP_DIR}/start.sh" in unit
    assert "WantedBy=multi-user.target" in unit  # its docker dependency: test_systemd_units.py
    start = rendered["start.sh"]
    # The secret step before the containers are created (the order itself: test_boot.py).
    assert start.index('"$APP_DIR/fetch-secrets.sh"') < start.index("up --detach --force-recreate")


def test_pinned_to_the_templates_digest_and_versions(rendered: dict[str, str], app_context: HostAppContext) -> None:
    user_data = rendered["cloud-init.yaml"]
    assert app_context.templates_digest in user_data
    for fetch_from_a_branch in ("git clone", "raw.githubusercontent.com", "/archive/refs/heads"):
        assert fetch_from_a_branch not in user_data
    installer = rendered["install-compose.sh"]
    assert f"VERSION={app_context.compose_version}" in installer
    assert "sha256sum --check" in installer


@pytest.mark.parametrize(
    "script", ["fetch-secrets.sh", "install-compose.sh", "start.sh", "bootstrap.sh", "activate.sh"]
)
def test_shell_scripts_parse(rendered: dict[str, str], script: str, tmp_path: Path) -> None:
    bash = require_tool("bash", "apt-get install -y bash")
    path = tmp_path / script
    path.write_text(rendered[script])
    result = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
