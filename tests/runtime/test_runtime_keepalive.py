"""Idle upstream connections: Envoy must never reuse one that Orthanc is closing.

Orthanc closes a kept-alive HTTP connection one second after its last answer (its default; the
harness's Orthanc cannot change it). A request that Envoy sends on such a connection just as
Orthanc closes it fails with a reset. Measured here with Envoy's defaults: bursts of 10 requests
spaced 1.1 s apart never fail (Envoy has seen the close by then), while gaps within a few
milliseconds of one second fail 2-10% of requests. So the gaps sweep that window, in bursts, so
that many connections are idle at once.
"""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tools.harness import Stack
from tools.harness.processes import LOOPBACK

pytestmark = pytest.mark.runtime

CLIENTS = 10  # concurrent clients, each with its own kept-alive connection to Envoy
# Pauses between bursts, swept three times across Orthanc's one-second keep-alive timeout.
GAPS_SECONDS = [0.990 + 0.002 * step for step in range(10)] * 3


def test_requests_a_second_apart_all_succeed(stack: Stack, runtime_report: dict[str, object]) -> None:
    context = stack.ssl_context()
    local = threading.local()

    def send(client: int) -> tuple[str, int | str]:
        # Half the clients POST, which Envoy never retries after a reset: only the idle timeout
        # protects them.
        method, path, body = ("GET", "/system", None) if client % 2 else ("POST", "/tools/lookup", b"1.2.3")
        try:
            if getattr(local, "connection", None) is None:
                local.connection = http.client.HTTPSConnection(LOOPBACK, stack.https_port, context=context, timeout=30)
            local.connection.request(method, path, body=body, headers={"Authorization": stack.admin.header})
            response = local.connection.getresponse()
            response.read()
            return method, response.status
        except (OSError, http.client.HTTPException) as error:
            local.connection = None
            return method, type(error).__name__

    outcomes: list[tuple[str, int | str]] = []
    with ThreadPoolExecutor(CLIENTS) as pool:
        for gap in GAPS_SECONDS:
            outcomes += pool.map(send, range(CLIENTS))
            time.sleep(gap)
    for method in ("GET", "POST"):
        sent = [status for m, status in outcomes if m == method]
        failed = [status for status in sent if status != 200]
        runtime_report[f"keep-alive: {method}s ~1 s apart in bursts, sent / failed"] = f"{len(sent)} / {len(failed)}"
    failures = [(m, status) for m, status in outcomes if status != 200]
    assert failures == [], failures
