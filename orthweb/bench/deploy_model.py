"""Modeled time from `pulumi up` to a serving site, from the offline resource graph.

Each resource takes its typical creation time (orthweb/data/creation_times.json) once everything it
depends on exists; Pulumi creates independent resources in parallel. The site serves once the
primary host has booted (packages, compose, images) and everything it looks up at boot exists (the
database above all), plus Orthanc's start. The same numbers applied to the Terraform orthweb's
serial chain give the anchor to compare with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from orthweb.evaluate import Evaluation, RecordedResource

DATA = Path(__file__).resolve().parent.parent / "data" / "creation_times.json"
# A host's boot as start.sh runs it: the image pulls overlap fetch-secrets.sh's wait for the
# database, so the site waits for whichever ends last (tests/static/test_boot.py checks the host).
OUR_BOOT_STEPS = ("packages", "compose_plugin", "image_pulls")
# The Terraform orthweb also generates its certificate with openssl at boot.
ANCHOR_BOOT_STEPS = ("packages", "compose_plugin", "certificate_generation", "image_pulls")
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
    primary = next(r for r in custom.values() if r.type == "aws:ec2/instance:Instance" and r.name.endswith("-primary"))
    host_ready = finish[primary.urn] + _boot_seconds(OUR_BOOT_STEPS)
    last = max(finish, key=lambda u: finish[u])
    start_seconds = float(creation_times()["boot"]["orthanc_start"]["seconds"])
    gate = max(host_ready, finish[last])

    chain: list[Step] = []
    cursor: str | None = primary.urn if host_ready >= finish[last] else last
    while cursor is not None:
        resource = custom[cursor]
        chain.append(Step(f"{duration_key(resource)} {resource.name}", duration(resource), finish[cursor]))
        cursor = previous[cursor]
    chain.reverse()
    if host_ready >= finish[last]:
        chain.append(Step("host boot: " + " + ".join(OUR_BOOT_STEPS), _boot_seconds(OUR_BOOT_STEPS), host_ready))
    chain.append(Step("orthanc_start", start_seconds, gate + start_seconds))
    return ReadyModel(f"orthweb {evaluation.stack}", gate + start_seconds, tuple(chain), host_ready)


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
