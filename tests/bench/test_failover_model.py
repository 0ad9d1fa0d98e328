"""Failover and rolling-replacement models: faithful to the graph's health checks, draining and
refresh settings, and to the steps `orthweb failover` takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from orthweb.evaluate import Evaluation, evaluate
from tools.bench.deploy_model import LoadBalancerHealth, creation_times, model_stack
from tools.bench.failover_model import model_failover, model_rolling_replacement


@pytest.fixture(scope="module")
def scaled(empty_home: Path) -> Evaluation:
    return evaluate("dev", {"topology": "scale-out"}, home=empty_home)


def test_failover_topology_waits_for_a_person_then_for_the_command(dev: Evaluation) -> None:
    running, stopped = model_failover(dev)
    assert "someone runs `orthweb failover`" in running.note
    assert running.seconds == sum(step.seconds for step in running.steps) < 30
    # A stopped secondary is started and boots (cached images) before the address moves.
    waits = creation_times()["failover"]
    extra = sum(waits[k]["seconds"] for k in ("start_instance", "os_boot", "service_restart"))
    assert stopped.seconds == running.seconds + extra + creation_times()["boot"]["orthanc_start"]["seconds"]
    assert [s.label for s in stopped.steps][-1] == "site answers"
    assert model_rolling_replacement(dev) is None


def test_scale_out_fails_over_by_itself_within_the_health_checks(scaled: Evaluation) -> None:
    health = LoadBalancerHealth.of(scaled)
    assert health is not None
    clients, restored = model_failover(scaled)
    assert clients.seconds == health.interval * health.unhealthy_threshold + health.timeout <= 30
    assert "no one has to act" in clients.note
    # Back at full size: drain the failed host, launch and boot a new one, pass the health checks.
    assert restored.steps[1].seconds == health.deregistration_delay
    assert restored.steps[-1].seconds == health.to_healthy
    assert restored.seconds > clients.seconds + health.deregistration_delay


def test_a_rolling_replacement_keeps_half_the_hosts_serving(scaled: Evaluation) -> None:
    rolling = model_rolling_replacement(scaled)
    assert rolling is not None
    assert rolling.name == "rolling replacement of 2 hosts, 1 at a time"
    assert "at least 1 of 2 hosts serve" in rolling.note
    first = [s for s in rolling.steps if s.label.startswith("batch 1/2")]
    second = [s for s in rolling.steps if s.label.startswith("batch 2/2")]
    assert len(first) == len(second) and rolling.seconds == 2 * sum(s.seconds for s in first)


def test_scale_out_serves_once_the_load_balancer_sees_a_healthy_host(dev: Evaluation, scaled: Evaluation) -> None:
    model = model_stack(scaled)
    health = LoadBalancerHealth.of(scaled)
    assert health is not None
    assert model.critical_path[-1].label.startswith("load balancer health checks pass")
    assert model.seconds == model.critical_path[-2].finish + health.to_healthy
    assert "scale-out" in model.name
    # The group boots alongside the database, as the failover hosts do.
    assert not any(step.label.startswith("aws:autoscaling/group:Group") for step in model.critical_path)
    # The group's own Auto Scaling role comes before the stack key, whose policy must name it.
    role = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
    assert model.critical_path[0].label.startswith(role)
    role_seconds = creation_times()["types"][role]["seconds"]
    assert model.seconds == model_stack(dev).seconds + role_seconds + health.to_healthy


def test_the_bench_report_shows_both_topologies(dev: Evaluation, prod: Evaluation, scaled: Evaluation) -> None:
    from tools.bench.report import deploy_lines
    from tools.bench.runner import deploy_section

    section = deploy_section({"dev": dev, "prod": prod}, scaled)
    assert [path["name"].split(",")[0] for path in section["failover"]] == [
        "failover topology",
        "failover topology",
        "scale-out topology",
        "scale-out topology",
    ]
    lines = "\n".join(deploy_lines(section))
    assert "Scale-out (modeled)" in lines and "rolling replacement of 2 hosts" in lines
    assert "Failover (modeled)" not in "\n".join(deploy_lines(deploy_section({"dev": dev, "prod": prod})))


def test_the_readme_states_the_modeled_times(dev: Evaluation, prod: Evaluation, scaled: Evaluation) -> None:
    from orthweb.evaluate import PROJECT_ROOT

    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Scale-out\n") : text.index("\n## ", text.index("\n## Scale-out\n") + 5)]
    running, stopped = model_failover(dev)
    clients, restored = model_failover(scaled)
    rolling = model_rolling_replacement(scaled)
    assert rolling is not None
    for claim in (
        f"**{running.seconds:.0f} s**",
        f"**{stopped.seconds:.0f} s**",
        f"**{clients.seconds:.0f} s**",
        f"**~{restored.seconds / 60:.1f} min**",
        f"**~{rolling.seconds / 60:.0f} min**",
        f"dev {model_stack(dev).seconds / 60:.1f} min, prod {model_stack(prod).seconds / 60:.1f} min",
    ):
        assert claim in section, claim
