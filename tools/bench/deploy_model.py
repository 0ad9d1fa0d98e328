"""Modeled time from `pulumi up` to a serving site, from the offline resource graph.

Each resource takes its typical creation time (tools/bench/creation_times.json) once everything it
depends on exists; Pulumi creates independent resources in parallel. The site serves once the
primary host has booted (packages, compose, images) and everything it looks up at boot exists (the
database above all), plus Orthanc's start. In the scale-out topology the hosts come from the Auto
Scaling group, and the site serves once the load balancer has seen a host pass its health checks.
The same numbers applied to the Terraform orthweb's serial chain give the anchor to compare with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from orthweb.evaluate import Evaluation, RecordedResource

DATA = Path(__file__).resolve().with_name("creation_times.json")
# A host's boot as start.sh runs it: the image pulls overlap fetch-secrets.sh's wait for the
# database, so the site waits for whichever ends last (tests/static/test_boot.py checks the host).
OUR_BOOT_STEPS = ("packages", "compose_plugin", "image_pulls")
# The Terraform orthweb also generates its certificate with openssl at boot.
ANCHOR_BOOT_STEPS = ("packages", "compose_plugin", "certificate_generation", "image_pulls")
SCALING_GROUP = "aws:autoscaling/group:Group"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
ANCHOR_CHAIN = (
    ("VPC", "aws:ec2/vpc:Vpc"),
    ("Secrets Manager interface endpoint", "aws:ec2/vpcEndpoint:VpcEndpoint#Interface"),
    ("Multi-AZ RDS", "aws:rds/instance:Instance#multi-az"),
    ("EC2 instance", "aws:ec2/instance:Instance"),
)


@cache
def creation_times() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def duration_key(resource: RecordedResource) -> str:
    if resource.type == "aws:ec2/vpcEndpoint:VpcEndpoint":
        return f"{resource.type}#{resource.inputs.get('vpcEndpointType', 'Gateway')}"
    if resource.type == "aws:rds/instance:Instance":
        return f"{resource.type}#{'multi-az' if resource.inputs.get('multiAz') else 'single-az'}"
    return resource.type


def duration(resource: RecordedResource) -> float:
    key = duration_key(resource)
    entry = creation_times()["types"].get(key)
    if entry is None:
        raise KeyError(f"no typical creation time for {key}: add it to {DATA.name}")
    return float(entry["seconds"])


@dataclass(frozen=True)
class Step:
    label: str
    seconds: float
    finish: float


@dataclass(frozen=True)
class ReadyModel:
    name: str
    seconds: float
    critical_path: tuple[Step, ...]
    host_booted: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seconds": round(self.seconds, 1),
            "minutes": round(self.seconds / 60, 1),
            "host_booted_seconds": None if self.host_booted is None else round(self.host_booted, 1),
            "critical_path": [
                {"step": s.label, "seconds": s.seconds, "finish": round(s.finish, 1)} for s in self.critical_path
            ],
        }


@dataclass(frozen=True)
class LoadBalancerHealth:
    """The target groups' health checks and draining, as the program configures them."""

    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    deregistration_delay: float

    @classmethod
    def of(cls, evaluation: Evaluation) -> LoadBalancerHealth | None:
        """From the stack's target groups (all configured alike); None without a load balancer."""
        groups = evaluation.of_type(TARGET_GROUP)
        if not groups:
            return None
        found = {
            cls(
                interval=float(tg.inputs["healthCheck"]["interval"]),
                timeout=float(tg.inputs["healthCheck"]["timeout"]),
                healthy_threshold=int(tg.inputs["healthCheck"]["healthyThreshold"]),
                unhealthy_threshold=int(tg.inputs["healthCheck"]["unhealthyThreshold"]),
                deregistration_delay=float(tg.inputs["deregistrationDelay"]),
            )
            for tg in groups
        }
        if len(found) != 1:
            raise ValueError(f"the target groups' health checks differ: {found}")
        return found.pop()

    @property
    def to_healthy(self) -> float:
        return self.interval * self.healthy_threshold

    @property
    def to_unhealthy(self) -> float:
        """A host that stops answering: `threshold` failed checks, the last one waiting its timeout."""
        return self.interval * self.unhealthy_threshold + self.timeout


def _boot_seconds(steps: tuple[str, ...]) -> float:
    boot = creation_times()["boot"]
    return sum(float(boot[step]["seconds"]) for step in steps)


def model_stack(evaluation: Evaluation) -> ReadyModel:
    """Longest dependency chain of the real graph, then boot and Orthanc start."""
    custom = {r.urn: r for r in evaluation.resources if r.custom}
    children: dict[str, list[str]] = {}
    for resource in evaluation.resources:
        if resource.parent:
            children.setdefault(resource.parent, []).append(resource.urn)

    def expand(urn: str) -> list[str]:
        # Waiting for a component means waiting for everything inside it.
        if urn in custom:
            return [urn]
        return [leaf for child in children.get(urn, []) for leaf in expand(child)]

    finish: dict[str, float] = {}
    previous: dict[str, str | None] = {}

    def finish_of(urn: str) -> float:
        if urn not in finish:
            waits = [d for dep in custom[urn].dependencies for d in expand(dep) if d != urn]
            start, before = 0.0, None
            for dependency in waits:
                if finish_of(dependency) > start:
                    start, before = finish_of(dependency), dependency
            finish[urn] = start + duration(custom[urn])
            previous[urn] = before
        return finish[urn]

    for urn in custom:
        finish_of(urn)
    host = _first_host(custom.values())
    host_ready = finish[host.urn] + _boot_seconds(OUR_BOOT_STEPS)
    last = max(finish, key=lambda u: finish[u])
    start_seconds = float(creation_times()["boot"]["orthanc_start"]["seconds"])
    gate = max(host_ready, finish[last])

    chain: list[Step] = []
    cursor: str | None = host.urn if host_ready >= finish[last] else last
    while cursor is not None:
        resource = custom[cursor]
        chain.append(Step(f"{duration_key(resource)} {resource.name}", duration(resource), finish[cursor]))
        cursor = previous[cursor]
    chain.reverse()
    if host_ready >= finish[last]:
        chain.append(Step("host boot: " + " + ".join(OUR_BOOT_STEPS), _boot_seconds(OUR_BOOT_STEPS), host_ready))
    chain.append(Step("orthanc_start", start_seconds, gate + start_seconds))
    health = LoadBalancerHealth.of(evaluation)
    if health is not None:
        label = f"load balancer health checks pass ({health.healthy_threshold} x {health.interval:g} s)"
        chain.append(Step(label, health.to_healthy, chain[-1].finish + health.to_healthy))
    name = f"orthweb {evaluation.stack}" + (f" ({evaluation.config.topology})" if health is not None else "")
    return ReadyModel(name, chain[-1].finish, tuple(chain), host_ready)


def _first_host(resources: Iterable[RecordedResource]) -> RecordedResource:
    """What the site waits for to boot: the primary host, or the scaling group launching the hosts."""
    found = [r for r in resources if r.type == "aws:ec2/instance:Instance" and r.name.endswith("-primary")]
    found += [r for r in resources if r.type == SCALING_GROUP]
    if not found:
        raise ValueError("the stack has neither a primary host nor a scaling group")
    return found[0]


def model_terraform_anchor() -> ReadyModel:
    """The Terraform orthweb: EC2 waits for a Multi-AZ RDS that waits for an interface endpoint."""
    types = creation_times()["types"]
    elapsed, steps = 0.0, []
    for label, key in ANCHOR_CHAIN:
        seconds = float(types[key]["seconds"])
        elapsed += seconds
        steps.append(Step(label, seconds, elapsed))
    for step in (*ANCHOR_BOOT_STEPS, "orthanc_start"):
        seconds = float(creation_times()["boot"][step]["seconds"])
        elapsed += seconds
        steps.append(Step(step, seconds, elapsed))
    return ReadyModel("Terraform orthweb 1.0.1", elapsed, tuple(steps))
