"""A secondary kept stopped boots once completely, then powers itself off.

Stopping it from outside while cloud-init still installs (what an EC2 instance-state resource
does seconds after launch) leaves a host that never finishes: cloud-init marks a module done
before running it and never re-runs an interrupted one, so the host failover starts may lack
docker, compose or the service. Instead the standby's own first boot installs the packages,
starts the stack (compose installed, images pulled, containers up) and waits for it, and only
then cloud-init's power_state module powers it off, once per instance and only if the stack came
up. At its next start (failover) systemd starts the enabled service with everything on disk.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from orthweb.host.context import HostAppContext
from orthweb.host.render import render_host_files
from tests.static.static_checks import cloud_init_validate, first_boot_commands


def _cloud_config(context: HostAppContext) -> dict[str, Any]:
    return yaml.safe_load(render_host_files(context)["cloud-init.yaml"])


def _commands(context: HostAppContext) -> list[str]:
    return first_boot_commands(render_host_files(context))


@pytest.fixture(scope="module")
def standby_context(app_context: HostAppContext) -> HostAppContext:
    return dataclasses.replace(app_context, host_role="secondary", power_off_after_first_boot=True)


@pytest.fixture(scope="module")
def standby(standby_context: HostAppContext) -> dict[str, Any]:
    return _cloud_config(standby_context)


def test_cloud_init_accepts_the_standby_user_data(standby_context: HostAppContext, tmp_path: Path) -> None:
    cloud_init_validate(render_host_files(standby_context)["cloud-init.yaml"], tmp_path)


def test_the_standby_starts_the_stack_and_waits_for_it_before_anything_else(
    standby: dict[str, Any], standby_context: HostAppContext
) -> None:
    assert {"docker", "jq"} <= set(standby["packages"])  # cloud-init installs them before runcmd
    commands = _commands(standby_context)
    start = commands.index("systemctl start orthweb.service")
    assert commands.index("systemctl enable --now docker.service") < start
    # Enabled, so that the next boot (failover's start) brings the stack up by itself.
    assert commands.index("systemctl enable orthweb.service orthweb-refresh.timer") < start
    assert start == len(commands) - 1, "starting the stack is the last step of the first boot"
    assert not [c for c in commands if "--no-block" in c], "the first boot must wait for the stack"


def test_starting_the_stack_installs_compose_and_pulls_the_images(rendered: dict[str, str]) -> None:
    unit = rendered["orthweb.service"]
    assert "ExecStartPre=" in unit and "install-compose.sh" in unit
    assert "ExecStart=" in unit and "start.sh" in unit
    assert "pull_missing_images" in rendered["start.sh"]


def test_the_standby_powers_off_once_and_only_with_the_stack_up(standby: dict[str, Any]) -> None:
    power = standby["power_state"]
    assert power["mode"] == "poweroff"
    # Checked once cloud-init has finished: a host whose stack did not come up stays running,
    # where its failure shows, rather than waiting stopped for a failover it cannot serve.
    assert power["condition"] == "systemctl is-active --quiet orthweb.service"


def test_a_serving_host_never_powers_off(app_context: HostAppContext) -> None:
    for role in ("primary", "secondary"):
        context = dataclasses.replace(app_context, host_role=role)
        assert "power_state" not in _cloud_config(context)
        assert "systemctl start --no-block orthweb.service orthweb-refresh.timer" in _commands(context)


def test_only_a_secondary_may_be_a_standby(app_context: HostAppContext) -> None:
    with pytest.raises(ValueError, match="power_off_after_first_boot"):
        dataclasses.replace(app_context, host_role="primary", power_off_after_first_boot=True)
