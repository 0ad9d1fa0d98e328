"""Two hosts of the scale-out group, side by side on one PostgreSQL and one storage: what one stores
the other serves, and each host's health endpoint tells the load balancer whether it can serve."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import pydicom
import pytest

from orthweb.clients.dicom import SUCCESS, make_study, store
from tools.harness import Stack
from tools.harness.dicom import local_endpoint, tls_context
from tools.harness.processes import LOOPBACK, wait_until
from tools.harness.scale_out import group_of_two, health_status

pytestmark = pytest.mark.runtime

HEALTH_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def pair(render_for: Callable[..., dict[str, str]]) -> Iterator[tuple[Stack, Stack]]:
    # Lean: two replicas on A (so "all of them" differs from "one"), one on B.
    with group_of_two(
        render_for(replicas=2, host_role="member", stack="scaled"),
        render_for(replicas=1, host_role="member", stack="scaled"),
    ) as hosts:
        yield hosts


def test_each_host_names_its_replicas_after_itself(pair: tuple[Stack, Stack]) -> None:
    host_a, host_b = pair
    names = {r.config.get("DatabaseServerIdentifier") for host in pair for r in host.replicas}
    assert names == {
        f"scaled-{host_a.host_id}-orthanc-1",
        f"scaled-{host_a.host_id}-orthanc-2",
        f"scaled-{host_b.host_id}-orthanc-1",
    }


def test_a_study_stored_through_one_host_is_served_by_the_other(pair: tuple[Stack, Stack]) -> None:
    host_a, host_b = pair
    (dataset,) = make_study(1, patient_id="SCALE-OUT")
    endpoint = local_endpoint(port=host_a.dicom_port, tls=tls_context(str(host_a.site_ca)), server_hostname=LOOPBACK)
    assert store(endpoint, [dataset]) == [SUCCESS]
    query = {"Level": "Instance", "Query": {"SOPInstanceUID": str(dataset.SOPInstanceUID)}}
    status, _, body = host_b.request(
        "/tools/find", method="POST", body=json.dumps(query).encode(), credential=host_b.admin
    )
    assert status == 200, body
    (instance,) = json.loads(body)
    status, _, body = host_b.request(f"/instances/{instance}/file", credential=host_b.admin)
    assert status == 200
    # Orthanc writes its own file meta information; the dataset itself is what was sent.
    served = pydicom.dcmread(io.BytesIO(body))
    assert served.SOPInstanceUID == dataset.SOPInstanceUID and served.PixelData == dataset.PixelData


def test_the_health_endpoint_answers_health_checks_only(pair: tuple[Stack, Stack]) -> None:
    for host in pair:
        assert health_status(host) == 200
        assert health_status(host, "/system") == 404, "the health port proxies nothing to Orthanc"


def _seconds_until(host: Stack, status: int) -> float:
    return wait_until(
        lambda: health_status(host) == status, timeout=HEALTH_TIMEOUT, what=f"health {status}", interval=0.02
    )


def test_the_health_endpoint_follows_the_hosts_replicas(
    pair: tuple[Stack, Stack], runtime_report: dict[str, object]
) -> None:
    host_a, host_b = pair
    first, second = host_a.replicas
    assert host_a.envoy is not None
    envoy = host_a.envoy
    first.kill()
    # With one replica left the host still serves: the load balancer keeps sending it clients.
    wait_until(
        lambda: all(
            f != "healthy" for hosts in envoy.host_health().values() for p, f in hosts.items() if p == first.http_port
        ),
        timeout=HEALTH_TIMEOUT,
        what="envoy dropping the first replica",
    )
    assert health_status(host_a) == 200
    second.kill()
    down = _seconds_until(host_a, 503)
    runtime_report["scale-out: health endpoint 503 after the host's last replica stops, s"] = round(down, 2)
    assert health_status(host_b) == 200, "the other host serves on"
    second.start()
    up = _seconds_until(host_a, 200)
    runtime_report["scale-out: health endpoint 200 after one replica returns, s"] = round(up, 2)
    first.start()
    host_a.wait_replicas_healthy()
