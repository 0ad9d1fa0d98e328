"""What failover to a standby (a secondary kept stopped) costs against a running secondary.

The standby's first boot installed the packages and the compose plugin, pulled the images and
brought the stack up once before it powered off (its rendered cloud-init says so), so failover
waits only for the start, the OS boot and the service coming up with what is on disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orthweb.evaluate import Evaluation, evaluate
from orthweb.evaluate.host_files import host_files
from tools.bench.deploy_model import OUR_BOOT_STEPS, creation_times
from tools.bench.failover_model import model_failover


@pytest.fixture(scope="module")
def standby_stack(empty_home: Path) -> Evaluation:
    return evaluate("dev", {"secondaryState": "stopped"}, home=empty_home)


def test_the_standby_did_its_first_boot_work_before_powering_off(standby_stack: Evaluation) -> None:
    files = host_files(standby_stack)["secondary"]
    cloud_config = yaml.safe_load(files["cloud-init.yaml"].content)
    # User data's bootstrap ends by running the bundle's activate.sh: its last step starts the stack.
    activate = [line.strip() for line in files["activate.sh"].content.splitlines() if line.strip()]
    assert activate[-1] == "systemctl start orthweb.service"  # compose, images, stack: waited for
    assert cloud_config["power_state"]["mode"] == "poweroff"


def test_failover_to_the_standby_costs_its_start_and_boot_only(standby_stack: Evaluation) -> None:
    running, stopped = model_failover(standby_stack)
    labels = " ".join(step.label for step in stopped.steps)
    # The first boot's work is not on the failover path: it was done before the power-off.
    assert not any(step in labels for step in OUR_BOOT_STEPS)
    times = creation_times()
    extra = sum(times["failover"][s]["seconds"] for s in ("start_instance", "os_boot", "service_restart"))
    extra += times["boot"]["orthanc_start"]["seconds"]
    assert stopped.seconds - running.seconds == pytest.approx(extra)
    assert running.seconds < 30 < stopped.seconds < 180
