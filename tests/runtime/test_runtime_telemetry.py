"""What the CloudWatch agent scrapes exists in what the running Envoy and Orthanc expose, and the
access log lines Envoy writes have exactly the documented fields.

The scrape goes where the agent's goes: Envoy's metrics-only listener, which serves Envoy's own
statistics and, with the health-check credential added by Envoy, one Orthanc replica's
/tools/metrics-prometheus. The names and label values come from the rendered agent configuration,
so renaming a metric there (or in Envoy or Orthanc) fails here.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from orthweb.clients.dicom import SUCCESS, DicomEndpoint, echo
from orthweb.shared import telemetry
from tools.harness import Stack
from tools.harness.processes import LOOPBACK, wait_until

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(exposition: str) -> list[tuple[str, dict[str, str]]]:
    """(name, labels) of every sample line of a Prometheus text exposition."""
    found = []
    for line in exposition.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            found.append((match.group(1), dict(LABEL.findall(match.group(2) or ""))))
    return found


def scrape(stack: Stack, path: str) -> str:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{stack.metrics_port}{path}", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def unmatched_declarations(agent: dict[str, Any], exposed: dict[str, list[tuple[str, dict[str, str]]]]) -> list[str]:
    """The series the agent's metric declarations ask for that no exposed sample provides.

    A declaration names one metric and matches `job;label;...` against a regular expression such
    as `^envoy;(orthanc_http|orthanc_dicom)$`: every alternative must be exposed (each becomes a
    CloudWatch metric an alarm or the dashboard reads)."""
    missing = []
    emf = agent["logs"]["metrics_collected"]["prometheus"]["emf_processor"]
    for declaration in emf["metric_declaration"]:
        (selector,) = declaration["metric_selectors"]
        name = selector.strip("^$")
        job, *wanted = declaration["label_matcher"].strip("^$").split(";")
        labels = declaration["source_labels"][1:]
        options = [value.strip("()").split("|") for value in wanted]
        for combination in itertools.product(*options):
            expected = dict(zip(labels, combination, strict=True))
            if not any(
                sample == name and all(found.get(k) == v for k, v in expected.items())
                for sample, found in exposed.get(job, [])
            ):
                missing.append(f"{name}{expected or ''} from {job}")
    return missing


@pytest.fixture(scope="module")
def exposed(stack: Stack) -> dict[str, list[tuple[str, dict[str, str]]]]:
    stack.wait_replicas_healthy()
    return {
        telemetry.ENVOY: samples(scrape(stack, telemetry.ENVOY_STATS_PATH)),
        telemetry.ORTHANC: samples(scrape(stack, telemetry.ORTHANC_METRICS_PATH)),
    }


def test_every_series_the_agent_keeps_is_exposed_by_the_running_envoy_and_orthanc(
    stack: Stack, exposed: dict[str, list[tuple[str, dict[str, str]]]]
) -> None:
    agent = json.loads(stack.rendered["cloudwatch-agent.json"])
    assert unmatched_declarations(agent, exposed) == []
    # The scrape keeps these names; a name Envoy or Orthanc does not expose would be dropped silently.
    kept = {name for source in exposed.values() for name, _ in source} & {m.name for m in telemetry.SCRAPED_METRICS}
    assert kept == {m.name for m in telemetry.SCRAPED_METRICS}


def test_a_renamed_metric_is_reported_missing(
    stack: Stack, exposed: dict[str, list[tuple[str, dict[str, str]]]]
) -> None:
    agent = json.loads(stack.rendered["cloudwatch-agent.json"])
    declarations = agent["logs"]["metrics_collected"]["prometheus"]["emf_processor"]["metric_declaration"]
    declarations[0]["metric_selectors"] = ["^envoy_cluster_membership_healthy_renamed$"]
    declarations[-1]["metric_selectors"] = ["^orthanc_count_instance$"]
    missing = unmatched_declarations(agent, exposed)
    assert len(missing) == 3, missing  # both clusters of the first declaration, and the last


def test_the_metrics_listener_serves_nothing_else(stack: Stack) -> None:
    for path in ("/stats", "/quitquitquit", "/clusters", "/tools/metrics-prometheus", "/changes"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(stack, path)
        assert refused.value.code == 404, path


def access_lines(stack: Stack) -> list[dict[str, Any]]:
    lines = []
    for line in stack.envoy_log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_envoy_logs_requests_and_associations_with_exactly_the_documented_fields(
    stack: Stack, dicom: DicomEndpoint
) -> None:
    """One HTTPS request with a patient query and one DICOM association, then their log lines (Envoy
    flushes its access log every 10 s, so both are waited for together)."""
    marker = uuid.uuid4().hex
    associations_before = len([line for line in access_lines(stack) if "peer" in line])
    status, _, _ = stack.request(f"/studies/{marker}?PatientName=DOE%5EJANE&PatientID=SECRET-123")
    assert status in (401, 404)
    assert echo(dicom) == SUCCESS

    def requests() -> list[dict[str, Any]]:
        return [line for line in access_lines(stack) if marker in str(line.get("path"))]

    def associations() -> list[dict[str, Any]]:
        return [line for line in access_lines(stack) if "peer" in line]

    wait_until(
        lambda: bool(requests()) and len(associations()) > associations_before,
        timeout=30,
        what="the access log lines",
        interval=0.2,
    )
    (request,) = requests()
    # Envoy writes the keys sorted; the set is what is documented.
    assert sorted(request) == sorted(telemetry.HTTP_ACCESS_LOG_FIELDS)
    assert request["path"] == f"/studies/{marker}" and request["method"] == "GET" and request["status"] == status
    assert re.fullmatch(r"orthanc-\d+|127\.0\.0\.1", str(request["upstream"])), request["upstream"]
    text = stack.envoy_log.read_text(errors="replace")
    assert "DOE" not in text and "SECRET-123" not in text
    association = associations()[-1]
    assert sorted(association) == sorted(telemetry.DICOM_CONNECTION_LOG_FIELDS)
    assert str(association["peer"]).startswith(f"{LOOPBACK}:")
    assert int(association["bytes_received"]) > 0 and int(association["bytes_sent"]) > 0
