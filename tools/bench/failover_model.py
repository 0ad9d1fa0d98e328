"""Modeled failover and rolling-replacement times, from the offline resource graph.

Scale-out: the load balancer stops sending new connections to a host after `unhealthy threshold`
failed checks `interval` apart (the last waiting its timeout), with no one involved; the Auto
Scaling group then replaces the host. A rolling replacement (an instance refresh after a launch
template change) drains, replaces and health-checks `batch` hosts at a time.

Failover: someone runs `orthweb failover`; it starts a stopped secondary, waits until it serves
and moves the Elastic IP. The time before someone runs it is not modeled.

Durations come from tools/bench/creation_times.json (estimates, each with its source) and from the
health-check, draining and refresh settings recorded in the graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from orthweb.evaluate import Evaluation
from tools.bench.deploy_model import (
    OUR_BOOT_STEPS,
    SCALING_GROUP,
    LoadBalancerHealth,
    Step,
    creation_times,
)

EC2_INSTANCE = "aws:ec2/instance:Instance"


@dataclass(frozen=True)
class TimedPath:
    name: str
    steps: tuple[Step, ...]
    note: str = ""

    @property
    def seconds(self) -> float:
        return self.steps[-1].finish if self.steps else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seconds": round(self.seconds, 1),
            "minutes": round(self.seconds / 60, 1),
            "note": self.note,
            "steps": [{"step": s.label, "seconds": s.seconds, "finish": round(s.finish, 1)} for s in self.steps],
        }


def _path(name: str, parts: list[tuple[str, float]], note: str = "") -> TimedPath:
    steps: list[Step] = []
    elapsed = 0.0
    for label, seconds in parts:
        elapsed += seconds
        steps.append(Step(label, seconds, elapsed))
    return TimedPath(name, tuple(steps), note)


def _boot(step: str) -> float:
    return float(creation_times()["boot"][step]["seconds"])


def _command(step: str) -> float:
    return float(creation_times()["failover"][step]["seconds"])


def _new_host(health: LoadBalancerHealth) -> list[tuple[str, float]]:
    """A fresh group host, from launch until the load balancer sends it clients."""
    return [
        ("EC2 launch", float(creation_times()["types"][EC2_INSTANCE]["seconds"])),
        ("host boot: " + " + ".join(OUR_BOOT_STEPS), sum(_boot(s) for s in OUR_BOOT_STEPS)),
        ("orthanc_start", _boot("orthanc_start")),
        (f"health checks pass ({health.healthy_threshold} x {health.interval:g} s)", health.to_healthy),
    ]


def model_failover(evaluation: Evaluation) -> tuple[TimedPath, ...]:
    """How long clients wait when the serving host fails, for the stack's topology."""
    health = LoadBalancerHealth.of(evaluation)
    if health is not None:
        return _scale_out_failover(health)
    running = [
        ("find the stack by its tags", _command("lookups")),
        ("target answers through Envoy", _command("health_probe")),
        ("move the Elastic IP", _command("associate_address")),
        ("site answers", _command("site_check")),
    ]
    stopped = [
        *running[:1],
        ("start the secondary", _command("start_instance")),
        ("OS boot to docker and orthweb.service", _command("os_boot")),
        ("secrets and containers (images cached)", _command("service_restart")),
        ("orthanc_start", _boot("orthanc_start")),
        *running[1:],
    ]
    after_someone = "after someone runs `orthweb failover` (the time until they do is not included)"
    return (
        _path("failover topology, running secondary", running, after_someone),
        _path("failover topology, stopped secondary", stopped, after_someone),
    )


def _scale_out_failover(health: LoadBalancerHealth) -> tuple[TimedPath, ...]:
    detect = (
        f"health checks fail ({health.unhealthy_threshold} x {health.interval:g} s + {health.timeout:g} s timeout)",
        health.to_unhealthy,
    )
    clients = _path(
        "scale-out topology, a host stops serving",
        [detect],
        "new connections go to the other hosts; no one has to act",
    )
    restored = _path(
        "scale-out topology, the group back at full size",
        [
            detect,
            (f"drain the failed host ({health.deregistration_delay:g} s)", health.deregistration_delay),
            *_new_host(health),
        ],
        "the other hosts serve meanwhile",
    )
    return clients, restored


def model_rolling_replacement(evaluation: Evaluation) -> TimedPath | None:
    """An instance refresh of the whole group (a new launch template); None without a group."""
    health = LoadBalancerHealth.of(evaluation)
    groups = evaluation.of_type(SCALING_GROUP)
    if health is None or not groups:
        return None
    group = groups[0].inputs
    desired = int(group["desiredCapacity"])
    preferences = group["instanceRefresh"]["preferences"]
    min_healthy = float(preferences["minHealthyPercentage"])
    if float(preferences.get("maxHealthyPercentage", 100)) > 100:
        raise ValueError("the model covers terminate-then-launch refreshes (maxHealthyPercentage 100) only")
    # Terminate-then-launch: at most the share above the minimum is out of service at once.
    batch = max(1, math.floor(desired * (100 - min_healthy) / 100))
    batches = math.ceil(desired / batch)
    warmup = float(group.get("defaultInstanceWarmup", 0))
    one = [
        (f"drain {batch} host(s) ({health.deregistration_delay:g} s)", health.deregistration_delay),
        *_new_host(health),
        (f"instance warmup ({warmup:g} s)", warmup),
    ]
    parts = [(f"batch {n + 1}/{batches}: {label}", seconds) for n in range(batches) for label, seconds in one]
    return _path(
        f"rolling replacement of {desired} hosts, {batch} at a time",
        parts,
        f"at least {math.ceil(desired * min_healthy / 100)} of {desired} hosts serve throughout",
    )
