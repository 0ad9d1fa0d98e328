"""Web load: `GET /instances/{id}/file` from k keep-alive clients, a fixed number of requests.

Each client is one thread with one persistent connection (http.client), like a viewer; through
Envoy it keeps the affinity cookie Envoy issues, as a browser would.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tools.bench.stats import percentile
from tools.bench.targets import Target

AFFINITY_COOKIE = "orthweb-affinity"
TIMEOUT = 60


class WebError(RuntimeError):
    """A request did not return 200: the figures would not mean what they say."""


def _connection(target: Target) -> http.client.HTTPConnection:
    if target.tls is not None:
        return http.client.HTTPSConnection(target.host, target.http_port, timeout=TIMEOUT, context=target.tls)
    return http.client.HTTPConnection(target.host, target.http_port, timeout=TIMEOUT)


def request(target: Target, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """One request on a fresh connection (set-up work, not measured)."""
    connection = _connection(target)
    try:
        connection.request(method, path, body=body, headers={"Authorization": target.credential.header})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def instance_ids(target: Target, sop_instance_uids: Sequence[str]) -> list[str]:
    """Orthanc ids of instances the target holds, looked up by SOP Instance UID."""
    ids = []
    for uid in sop_instance_uids:
        status, body = request(target, "POST", "/tools/lookup", uid.encode())
        hits = [hit["ID"] for hit in json.loads(body) if hit["Type"] == "Instance"] if status == 200 else []
        if len(hits) != 1:
            raise WebError(f"{target.name}: instance {uid} not found (HTTP {status})")
        ids.append(hits[0])
    return ids


@dataclass(frozen=True)
class WebRun:
    seconds: float
    latencies: tuple[float, ...]
    bytes_received: int

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.bytes_received / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000

    def to_json(self) -> dict[str, object]:
        return {
            "seconds": round(self.seconds, 3),
            "requests": len(self.latencies),
            "requests_per_s": round(self.requests_per_second, 1),
            # Four places: a stalled run of small instances moves well under 0.01 MB/s.
            "mb_per_s": round(self.mb_per_second, 4),
            "p50_ms": round(self.percentile_ms(0.50), 2),
            "p99_ms": round(self.percentile_ms(0.99), 2),
        }


def _client(target: Target, paths: Sequence[str]) -> tuple[list[float], int]:
    connection = _connection(target)
    headers = {"Authorization": target.credential.header}
    latencies: list[float] = []
    received = 0
    try:
        for path in paths:
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                raise WebError(f"{target.name}: GET {path} -> HTTP {response.status}")
            received += len(body)
            cookie = response.getheader("Set-Cookie")
            if cookie and cookie.startswith(AFFINITY_COOKIE + "="):
                headers["Cookie"] = cookie.split(";", 1)[0]
    finally:
        connection.close()
    return latencies, received


def fetch_files(target: Target, ids: Sequence[str], *, clients: int, requests: int) -> WebRun:
    """`requests` downloads of `/instances/{id}/file` (ids in turn) spread over `clients`."""
    paths = [f"/instances/{ids[i % len(ids)]}/file" for i in range(requests)]
    shares = [paths[i::clients] for i in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda share: _client(target, share), shares))
    seconds = time.perf_counter() - started
    return WebRun(
        seconds=seconds,
        latencies=tuple(latency for latencies, _ in results for latency in latencies),
        bytes_received=sum(received for _, received in results),
    )
