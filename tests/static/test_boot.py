"""The boot order on a host, run for real (bash) with stand-ins for docker and the secret step.

start.sh pulls only the images that are missing, while fetch-secrets.sh waits for the database,
and starts the stack once both are done; install-compose.sh runs before every start and does
nothing when the pinned plugin is in place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from orthweb.host.context import HostAppContext
from orthweb.host.layout import APP_DIR
from orthweb.host.render import render_host_files
from tests.static.static_checks import require_tool, run

# `docker image inspect` answers from state/cached; `docker pull` marks the image as pulling,
# waits a moment, then caches it (or fails, per state/pull-fails); everything is logged.
DOCKER_STUB = """\
import json, pathlib, sys, time
state = pathlib.Path(sys.argv[0]).parent / "state"
args = sys.argv[1:]
with open(state / "calls.log", "a") as log:
    log.write(json.dumps(args) + "\\n")
cached = json.loads((state / "cached.json").read_text())
if args[:2] == ["image", "inspect"]:
    sys.exit(0 if args[2] in cached else 1)
if args[0] == "pull":
    if (state / "pull-fails").exists():
        sys.exit("toomanyrequests: You have reached your pull rate limit")
    (state / ("pulling-" + str(len(cached)))).touch()
    time.sleep(0.5)
    cached.append(args[-1])
    (state / "cached.json").write_text(json.dumps(cached))
    sys.exit(0)
if args[0] == "compose":
    if "pull" in args and (state / "pull-fails").exists():
        sys.exit("toomanyrequests: You have reached your pull rate limit")
    sys.exit(0)
sys.exit("unexpected docker call: " + " ".join(args))
"""

# The secret step: waits (bounded) for the database; here it notes whether a pull was under way.
FETCH_SECRETS_STUB = """\
#!/bin/bash
state={state}
[ -e "$state/fetch-fails" ] && exit 1
for _ in $(seq 50); do
  if compgen -G "$state/pulling-*" >/dev/null; then echo pulling >"$state/fetch-saw"; break; fi
  sleep 0.1
done
echo "fetch-secrets done" >>"$state/calls.log"
"""


@dataclasses.dataclass
class Boot:
    returncode: int
    output: str
    calls: list[list[str]]
    state: Path

    def docker_calls(self, first: str) -> list[list[str]]:
        return [c for c in self.calls if c and c[0] == first]


@pytest.fixture
def boot(rendered: dict[str, str], app_context: HostAppContext, tmp_path: Path) -> Callable[..., Boot]:
    bash = require_tool("bash", "apt-get install -y bash")
    app_dir, bin_dir, state = tmp_path / "app", tmp_path / "bin", tmp_path / "bin" / "state"
    for directory in (app_dir, bin_dir, state):
        directory.mkdir(parents=True, exist_ok=True)
    for name in ("start.sh", "docker-compose.yml"):
        (app_dir / name).write_text(rendered[name])
    (app_dir / "fetch-secrets.sh").write_text(FETCH_SECRETS_STUB.format(state=state))
    docker = bin_dir / "docker"
    docker.write_text(f"#!{sys.executable} -IS\n{DOCKER_STUB}")
    for script in (docker, app_dir / "fetch-secrets.sh"):
        script.chmod(0o755)
    images = (app_context.orthanc_image, app_context.envoy_image)

    def run_boot(*, cached: tuple[str, ...] = images, pull_fails: bool = False, fetch_fails: bool = False) -> Boot:
        (state / "cached.json").write_text(json.dumps(list(cached)))
        for flag, present in (("pull-fails", pull_fails), ("fetch-fails", fetch_fails)):
            (state / flag).unlink(missing_ok=True)
            if present:
                (state / flag).touch()
        env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "ORTHWEB_APP_DIR": str(app_dir),
            "ORTHWEB_PULL_PAUSE_SECONDS": "0",
        }
        done = run([bash, str(app_dir / "start.sh")], env=env)
        log = (state / "calls.log").read_text() if (state / "calls.log").exists() else ""
        calls = [json.loads(line) if line.startswith("[") else [line] for line in log.splitlines()]
        return Boot(done.returncode, done.stdout + done.stderr, calls, state)

    return run_boot


def test_cached_images_are_not_pulled_again(boot: Callable[..., Boot]) -> None:
    """With every image on the host, the registry is not asked (its anonymous pulls are limited)."""
    result = boot(pull_fails=True)
    assert result.returncode == 0, result.output
    assert [c for c in result.calls if "pull" in c] == []
    (up,) = [c for c in result.docker_calls("compose") if "up" in c]
    assert "--detach" in up and "--force-recreate" in up


def test_missing_images_are_pulled_while_the_database_is_awaited(
    boot: Callable[..., Boot], app_context: HostAppContext
) -> None:
    result = boot(cached=())
    assert result.returncode == 0, result.output
    assert sorted(c[-1] for c in result.docker_calls("pull")) == sorted(
        (app_context.orthanc_image, app_context.envoy_image)
    )
    # The secret step saw a pull under way: the pulls did not wait for the database.
    assert (result.state / "fetch-saw").read_text().strip() == "pulling"
    names = [c[0] if c[0] != "compose" else "up" for c in result.calls if c[0] in ("pull", "compose")]
    assert names[-1] == "up" and "up" not in names[:-1]  # started once, after every pull


def test_a_missing_image_that_cannot_be_pulled_stops_the_start(boot: Callable[..., Boot]) -> None:
    result = boot(cached=(), pull_fails=True)
    assert result.returncode != 0
    assert not any("up" in c for c in result.docker_calls("compose"))
    assert "toomanyrequests" in result.output  # the registry's own words reach the journal


def test_no_start_without_the_secrets(boot: Callable[..., Boot]) -> None:
    result = boot(fetch_fails=True)
    assert result.returncode != 0
    assert not any("up" in c for c in result.docker_calls("compose"))


def test_the_deploy_model_boots_hosts_the_same_way() -> None:
    """The bench's model counts the pulls in the host's boot, alongside the database's creation:
    right only because start.sh pulls while the secret step waits (the test above)."""
    from tools.bench.deploy_model import OUR_BOOT_STEPS

    assert OUR_BOOT_STEPS == ("packages", "compose_plugin", "image_pulls")


# --- what runs the boot: systemd and cloud-init ---------------------------------------------------


def test_every_start_installs_compose_then_starts(rendered: dict[str, str]) -> None:
    """The compose plugin is installed before each start (idempotent), not once by cloud-init."""
    unit = [line.strip() for line in rendered["orthweb.service"].splitlines()]
    steps = [line for line in unit if line.startswith(("ExecStartPre=", "ExecStart="))]
    assert steps == [f"ExecStartPre={APP_DIR}/install-compose.sh", f"ExecStart={APP_DIR}/start.sh"]
    runcmd = [" ".join(map(str, c)) for c in yaml.safe_load(rendered["cloud-init.yaml"])["runcmd"]]
    assert not any("install-compose" in command for command in runcmd)


def test_the_tools_the_host_scripts_use_are_installed(rendered: dict[str, str]) -> None:
    """AL2023 package names; the scripts call jq, openssl and the AWS CLI themselves."""
    packages = set(yaml.safe_load(rendered["cloud-init.yaml"])["packages"])
    assert {"docker", "jq", "openssl", "awscli-2"} <= packages


# --- install-compose.sh ---------------------------------------------------------------------------

CURL_STUB = """\
#!/bin/bash
# Writes the fake plugin to the --output path, or fails like a network error once per flag file.
state={state}
echo "curl $*" >>"$state/curl.log"
if [ -e "$state/curl-fails" ]; then rm "$state/curl-fails"; exit 7; fi
out=""
while [ $# -gt 0 ]; do [ "$1" = "--output" ] && out=$2; shift; done
cp "$state/plugin" "$out"
"""


@pytest.fixture
def install(app_context: HostAppContext, tmp_path: Path) -> Callable[..., tuple[int, str, Path]]:
    bash = require_tool("bash", "apt-get install -y bash")
    state, bin_dir = tmp_path / "state", tmp_path / "bin"
    for directory in (state, bin_dir):
        directory.mkdir()
    plugin = state / "plugin"
    plugin.write_text(f'#!/bin/bash\n[ "$*" = "version --short" ] && echo {app_context.compose_version}\n')
    digest = hashlib.sha256(plugin.read_bytes()).hexdigest()
    (bin_dir / "curl").write_text(CURL_STUB.format(state=state))
    (bin_dir / "curl").chmod(0o755)
    dest = tmp_path / "cli-plugins" / "docker-compose"

    def run_install(*, pinned: str = digest, curl_fails: bool = False) -> tuple[int, str, Path]:
        ctx = dataclasses.replace(app_context, compose_sha256_x86_64=pinned, compose_sha256_aarch64=pinned)
        script = tmp_path / "install-compose.sh"
        script.write_text(render_host_files(ctx)["install-compose.sh"])
        # Never let a script without the hook write to this machine's own plugin directory.
        assert "ORTHWEB_COMPOSE_PLUGIN" in script.read_text(), "install-compose.sh has no test hook"
        if curl_fails:
            (state / "curl-fails").touch()
        env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "ORTHWEB_COMPOSE_PLUGIN": str(dest)}
        done = run([bash, str(script)], env=env)
        return done.returncode, done.stdout + done.stderr, state / "curl.log"

    return run_install


def test_install_compose_is_idempotent_and_survives_a_failed_download(
    install: Callable[..., tuple[int, str, Path]], tmp_path: Path
) -> None:
    dest = tmp_path / "cli-plugins" / "docker-compose"
    code, output, curl_log = install(curl_fails=True)
    assert code != 0 and not dest.exists(), output  # systemd starts the unit again later
    code, output, curl_log = install()
    assert code == 0, output
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    downloads = curl_log.read_text().count("curl ")
    code, output, curl_log = install()  # the next start: already in place, no download
    assert code == 0 and curl_log.read_text().count("curl ") == downloads, output


def test_install_compose_refuses_a_download_with_another_digest(
    install: Callable[..., tuple[int, str, Path]], tmp_path: Path
) -> None:
    code, output, _ = install(pinned="0" * 64)
    assert code != 0, output
    assert not (tmp_path / "cli-plugins" / "docker-compose").exists()
