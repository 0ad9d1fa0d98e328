"""Ready means every replica is in rotation: new sessions and DICOM associations spread evenly
over the replicas in steady state, right after the harness reports Envoy ready, right after Envoy
is replaced (start.sh --rolling --envoy) and right after a replica comes back.

Each burst is checked with Pearson's chi-square against an even split, whole and in its first
FIRST sessions and associations (about its first second), refused at p < 1e-7. With Envoy's ring
of at least 16,384 entries the replicas' true shares are within about 1.5% of a third, so the
sixteen checks fail a healthy stack about once in 500,000 runs. A replica that gets nothing in the
first second (what Envoy's default 1 s update merge window did right after the harness's ready:
158 / 142 / 0) gives a statistic of FIRST / 2 = 35 there, p = 2.5e-8.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from orthweb.clients.dicom import SUCCESS, DicomEndpoint, echo
from tools.bench.stats import uniform_chi_square
from tools.harness import Stack
from tools.harness.compose import run_start_script
from tools.harness.processes import wait_until

pytestmark = pytest.mark.runtime

EACH = 140  # fresh HTTPS connections without affinity cookie (new sessions); fresh DICOM-TLS associations
FIRST = 70  # of each kind: about the first second of a burst
CLIENTS = 4
REFUSED_BELOW = 1e-7
RESTARTED = 3


def _served_by(stack: Stack) -> str:
    status, _, body = stack.request("/system", credential=stack.admin)
    return json.loads(body)["Name"] if status == 200 else f"HTTP {status}"


def _associations_per_replica(stack: Stack) -> Counter[str]:
    """Connections Envoy opened to each replica's DICOM port so far (admin /clusters cx_total)."""
    assert stack.envoy is not None
    by_port = {replica.dicom_port: replica.name for replica in stack.replicas}
    counts: Counter[str] = Counter()
    for line in stack.envoy.admin("/clusters").splitlines():
        cluster, address, stat, value = [*line.split("::"), "", "", ""][:4]
        if cluster == "orthanc_dicom" and stat == "cx_total":
            counts[by_port.get(int(address.rsplit(":", 1)[1]), address)] += int(value)
    return counts


def _phase(stack: Stack, dicom: DicomEndpoint, pool: ThreadPoolExecutor) -> tuple[list[int], list[int]]:
    """FIRST sessions and FIRST associations, interleaved, in parallel: counts per replica."""

    def session() -> object:
        return _served_by(stack)

    def association() -> object:
        return echo(dicom)

    before = _associations_per_replica(stack)
    outcomes = list(pool.map(lambda task: task(), [session, association] * FIRST))
    after = _associations_per_replica(stack)
    sessions, echoes = Counter(outcomes[::2]), outcomes[1::2]
    assert echoes == [SUCCESS] * FIRST, Counter(echoes)
    names = [replica.name for replica in stack.replicas]
    assert set(sessions) <= set(names), sessions  # every session answered by a replica
    return [sessions[name] for name in names], [after[name] - before[name] for name in names]


def _burst(stack: Stack, dicom: DicomEndpoint) -> dict[str, list[int]]:
    """EACH new sessions and associations: counts per replica, of the first FIRST and of all."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        phases = [_phase(stack, dicom, pool) for _ in range(EACH // FIRST)]
    return {
        "first sessions": phases[0][0],
        "first associations": phases[0][1],
        "sessions": [sum(counts) for counts in zip(*(p[0] for p in phases), strict=True)],
        "associations": [sum(counts) for counts in zip(*(p[1] for p in phases), strict=True)],
    }


def _assert_even(spread: dict[str, list[int]], when: str, report: dict[str, object]) -> None:
    tests = {kind: uniform_chi_square(counts) for kind, counts in spread.items()}
    report[f"spread {when}"] = "; ".join(
        f"{kind} {' / '.join(map(str, spread[kind]))} (chi2 {stat:.1f}, p {p:.2g})" for kind, (stat, p) in tests.items()
    )
    assert all(p >= REFUSED_BELOW for _, p in tests.values()), report[f"spread {when}"]


def test_new_sessions_and_associations_spread_evenly_in_steady_state(
    stack: Stack, dicom: DicomEndpoint, runtime_report: dict[str, object]
) -> None:
    stack.wait_replicas_healthy()
    _assert_even(_burst(stack, dicom), "in steady state", runtime_report)


def test_right_after_the_harness_reports_envoy_ready_every_replica_gets_its_share(
    stack: Stack, dicom: DicomEndpoint, runtime_report: dict[str, object]
) -> None:
    stack.recreate_envoy()  # back once Envoy reports every replica healthy in every cluster
    _assert_even(_burst(stack, dicom), "right after the harness's ready", runtime_report)


def test_right_after_envoy_is_replaced_every_replica_gets_its_share(
    stack: Stack, dicom: DicomEndpoint, runtime_report: dict[str, object]
) -> None:
    """start.sh returns only once the new Envoy routes to every replica (compose itself returns
    as soon as the container runs)."""
    done = run_start_script(stack, "--rolling", "--envoy")
    assert done.returncode == 0, done.stderr[-3000:]
    assert stack.envoy is not None
    health = stack.envoy.host_health()  # at once: no waiting here
    for cluster in ("orthanc_http", "orthanc_dicom"):
        assert sorted(health[cluster].values()) == ["healthy"] * stack.replica_total, health
    _assert_even(_burst(stack, dicom), "right after start.sh replaced Envoy", runtime_report)


def test_right_after_a_replica_restart_it_gets_its_share(
    stack: Stack, dicom: DicomEndpoint, runtime_report: dict[str, object]
) -> None:
    victim = stack.replica(RESTARTED)
    ports = {victim.http_port, victim.dicom_port}
    assert stack.envoy is not None
    envoy = stack.envoy

    def dropped() -> bool:
        health = envoy.host_health()
        return all(flags != "healthy" for hosts in health.values() for port, flags in hosts.items() if port in ports)

    victim.kill()
    try:
        wait_until(dropped, timeout=30, what="Envoy dropping the killed replica", interval=0.05)
    finally:
        stack.restart_replica(RESTARTED)  # back once Envoy reports it healthy in every cluster
    _assert_even(_burst(stack, dicom), "right after a replica restart", runtime_report)
