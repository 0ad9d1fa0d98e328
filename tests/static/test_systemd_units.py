"""The host's systemd units and docker: restarting docker must not take the site down.

systemd.unit(5): a unit is stopped or restarted when a unit it names in `Requires=`, `Requisite=`,
`BindsTo=` or `PartOf=` is stopped or restarted. systemd implements this with the reverse
dependencies those four create on the named unit (`RequiredBy`, `RequisiteOf`, `BoundBy`,
`ConsistsOf`), the only ones that carry UNIT_ATOM_PROPAGATE_RESTART (systemd
src/core/unit-dependency-atom.c); `Wants=` creates `WantedBy`, which carries none. A package update
restarts docker.service; had orthweb.service required it, systemd would restart orthweb.service,
whose stop (`docker compose down`) removes every container. With the daemon's `live-restore`
(docker-daemon.json) the containers keep running through a daemon restart instead.

The real systemd decides here: `systemd-analyze verify` loads the rendered units beside a stand-in
docker.service under a scratch root and prints, at debug level, each unit's dependencies as systemd
resolved them.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from orthweb.host.layout import HOST_FILES
from tests.static.static_checks import require_tool, run

UNITS = ("orthweb.service", "orthweb-refresh.service", "orthweb-refresh.timer")
DOCKER = "docker.service"
# Unit directives after which a stop or restart of the named unit reaches this one (systemd.unit(5)).
PROPAGATING_DIRECTIVES = ("Requires", "Requisite", "BindsTo", "PartOf")
# The reverse dependencies they give the named unit (systemd's unit-dependency-atom.c).
PROPAGATING_REVERSE = ("RequiredBy", "RequisiteOf", "BoundBy", "ConsistsOf")
_SECTION = re.compile(r"^\t-> Unit (\S+):$")
_DEPENDENCY = re.compile(r"^\t\t([A-Za-z]+): (\S+) \(")


def unit_directives(text: str) -> dict[str, list[str]]:
    """`Key=` -> every unit it names, over the [Unit] section (a key may repeat; values are lists)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Unit]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).extend(value.split())
    return found


def test_no_unit_asks_systemd_to_restart_it_with_docker(rendered: dict[str, str]) -> None:
    for name in UNITS:
        directives = unit_directives(rendered[name])
        for directive in PROPAGATING_DIRECTIVES:
            assert DOCKER not in directives.get(directive, []), f"{name}: {directive}={DOCKER}"
    service = unit_directives(rendered["orthweb.service"])
    # Docker is still started first, and at shutdown stopped only after the stack.
    assert DOCKER in service["Wants"] and DOCKER in service["After"]


def test_containers_outlive_a_docker_restart(rendered: dict[str, str]) -> None:
    assert json.loads(rendered["docker-daemon.json"])["live-restore"] is True


@pytest.fixture(scope="module")
def resolved(rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, set[str]]]:
    """Unit -> dependency kind -> units, as systemd resolves the rendered units."""
    analyze = require_tool("systemd-analyze", "apt-get install -y systemd")
    root = tmp_path_factory.mktemp("systemd-root")
    # The distribution's own units (targets, slices) that every service depends on by default.
    shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for file in HOST_FILES:
        target = root / file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rendered[file.name])
        target.chmod(int(file.mode, 8))
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    for stub in ("usr/bin/docker", "usr/bin/dockerd"):
        (root / stub).write_text("#!/bin/sh\n")
        (root / stub).chmod(0o755)
    (root / "usr/lib/systemd/system" / DOCKER).write_text("[Service]\nExecStart=/usr/bin/dockerd\n")
    done = run(
        [analyze, "verify", "--man=no", f"--root={root}", *UNITS, DOCKER],
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "debug"},
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    units: dict[str, dict[str, set[str]]] = {}
    current: dict[str, set[str]] | None = None
    for line in done.stdout.splitlines():
        if section := _SECTION.match(line):
            current = units.setdefault(section.group(1), {})
        elif current is not None and (dependency := _DEPENDENCY.match(line)):
            current.setdefault(dependency.group(1), set()).add(dependency.group(2))
    assert set(units) >= {*UNITS, DOCKER}, sorted(units)
    return units


def test_systemd_restarts_nothing_of_ours_when_docker_restarts(resolved: dict[str, dict[str, set[str]]]) -> None:
    docker = resolved[DOCKER]
    reached = {kind: docker.get(kind, set()) & set(UNITS) for kind in PROPAGATING_REVERSE}
    assert reached == {kind: set() for kind in PROPAGATING_REVERSE}
    # What systemd does know: the stack wants docker and comes after it.
    assert "orthweb.service" in docker["WantedBy"] and "orthweb.service" in docker["Before"]
    assert DOCKER in resolved["orthweb.service"]["After"]
