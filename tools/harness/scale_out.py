"""Two hosts of the scale-out group side by side on 127.0.0.1, as behind the load balancer: each its
own Envoy and Orthanc replicas from its rendered files, both on one PostgreSQL and one storage
directory (RDS and S3 in the cloud), with the deployment's one admin and health credential.
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping

from orthweb.shared.constants import LB_HEALTH_PATH
from tools.harness.processes import LOOPBACK
from tools.harness.stack import Stack


@contextlib.contextmanager
def group_of_two(files_a: Mapping[str, str], files_b: Mapping[str, str]) -> Iterator[tuple[Stack, Stack]]:
    """Host A (with the database and storage) and host B using them; both stopped on exit."""
    with Stack(files_a, host_id="i-00000000000000a0a") as host_a:
        assert host_a.postgres is not None
        host_b = Stack(
            files_b, host_id="i-00000000000000b0b", postgres=host_a.postgres, storage_dir=host_a.work_dir / "storage"
        )
        # One secret for the whole deployment: every host knows the same users.
        host_b.admin, host_b.health = host_a.admin, host_a.health
        with host_b:
            yield host_a, host_b


def health_status(host: Stack, path: str = LB_HEALTH_PATH) -> int:
    """What the load balancer's health check gets from `host`'s Envoy (HTTP status)."""
    url = f"http://{LOOPBACK}:{host.lb_health_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        with contextlib.closing(error):
            return error.code
