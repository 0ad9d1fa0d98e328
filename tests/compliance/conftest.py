"""checkov runs once per session on each scanned stack (dev, prod, and a deliberately insecure
variant of dev), all three at once: each scan is a ~20 s subprocess."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from orthweb.evaluate import Evaluation, RecordedResource
from orthweb.ops.compliance.scan import CheckovMissing, Report, find_checkov, scan

# The hosts' HTTPS rule, turned into SSH from anywhere.
HOSTS_HTTPS_RULE = "orthweb-hosts-sg-in-https-0.0.0.0_0"


@pytest.fixture(scope="session")
def checkov() -> Path:
    """The checkov executable; a missing checkov fails the compliance tests (never skips them)."""
    try:
        return find_checkov()
    except CheckovMissing as error:
        pytest.fail(str(error), pytrace=False)


def _with_inputs(resource: RecordedResource, **changes: Any) -> RecordedResource:
    return dataclasses.replace(resource, inputs={**resource.inputs, **changes})


def insecure_variant(evaluation: Evaluation) -> Evaluation:
    """The same stack with the mistakes checkov must catch, made on the recorded inputs."""
    changed: list[RecordedResource] = []
    for resource in evaluation.resources:
        if resource.type == "aws:rds/instance:Instance":
            resource = _with_inputs(resource, storageEncrypted=False, publiclyAccessible=True)
        elif resource.name == HOSTS_HTTPS_RULE:
            resource = _with_inputs(resource, fromPort=22.0, toPort=22.0, description="SSH from anywhere")
        elif resource.type == "aws:ec2/instance:Instance":
            resource = _with_inputs(
                resource, metadataOptions={**resource.inputs["metadataOptions"], "httpTokens": "optional"}
            )
        elif resource.name in ("orthweb-storage-dicom-encryption", "orthweb-network-flow-logs"):
            continue
        changed.append(resource)
    return dataclasses.replace(evaluation, resources=changed)


@pytest.fixture(scope="session")
def reports(checkov: Path, dev: Evaluation, prod: Evaluation) -> dict[str, Report]:
    stacks = {"dev": dev, "prod": prod, "insecure": insecure_variant(dev)}
    with ThreadPoolExecutor(max_workers=len(stacks)) as pool:
        futures = {name: pool.submit(scan, evaluation, checkov=checkov) for name, evaluation in stacks.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="session", params=["dev", "prod"])
def report(request: pytest.FixtureRequest, reports: dict[str, Report]) -> Report:
    return reports[request.param]
