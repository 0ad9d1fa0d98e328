"""A database password rotation under steady DICOM and HTTPS traffic: nobody notices.

RDS changes the master password in the database and in its secret; the host's refresh (the
rendered fetch-secrets.sh --rolling-restart-if-changed, its start.sh and the compose shim)
drains each replica out of Envoy's rotation, replaces it, and waits until Envoy routes to it
again before the next. A secret that does not work leaves the old replicas serving.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from orthweb.clients.dicom import SUCCESS, DicomEndpoint, make_study, store, to_bytes
from tools.harness import Stack
from tools.harness.aws import FetchSecrets
from tools.harness.stack import database_password

pytestmark = pytest.mark.runtime

DICOM_CLIENTS = 2
HTTPS_CLIENTS = 2
PAUSE_SECONDS = 0.02  # between one client's operations: steady, not saturating two cores
# A replica that cannot log in never turns healthy: how long the refresh gives it here.
BAD_SECRET_ENV = {"ORTHWEB_READY_TIMEOUT": "30"}


class SteadyLoad:
    """Clients that each repeat one operation until stopped, counting outcomes per kind."""

    def __init__(self, stack: Stack, dicom: DicomEndpoint) -> None:
        self.outcomes: dict[str, Counter[object]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        upload = to_bytes(make_study(1, patient_id="LOAD")[0])
        operations: dict[str, Callable[[], object]] = {
            # A new association per instance: each one is routed (and may be refused) anew.
            "DICOM C-STORE": lambda: store(dicom, make_study(1, patient_id="LOAD"))[0],
            "HTTPS GET": lambda: stack.request("/system", credential=stack.admin)[0],
            # Not retried by Envoy after a reset: only draining protects it.
            "HTTPS POST": lambda: stack.request("/instances", method="POST", body=upload, credential=stack.admin)[0],
        }
        kinds = ["DICOM C-STORE"] * DICOM_CLIENTS + ["HTTPS GET", "HTTPS POST"][:HTTPS_CLIENTS]
        self._threads = [threading.Thread(target=self._run, args=(k, operations[k])) for k in kinds]

    def _run(self, kind: str, operation: Callable[[], object]) -> None:
        while not self._stop.is_set():
            try:
                outcome = operation()
            except (ConnectionError, OSError) as error:
                outcome = type(error).__name__
            with self._lock:
                self.outcomes.setdefault(kind, Counter())[outcome] += 1
            time.sleep(PAUSE_SECONDS)

    @contextmanager
    def running(self) -> Iterator[SteadyLoad]:
        for thread in self._threads:
            thread.start()
        time.sleep(1)  # traffic flows before anything changes
        try:
            yield self
        finally:
            time.sleep(1)
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=60)

    def sent(self) -> dict[str, int]:
        return {kind: sum(counts.values()) for kind, counts in self.outcomes.items()}

    def failures(self) -> dict[str, dict[object, int]]:
        ok = (SUCCESS, 200)
        return {kind: {o: n for o, n in c.items() if o not in ok} for kind, c in self.outcomes.items()}

    def summary(self) -> str:
        failed = {kind: sum(f.values()) for kind, f in self.failures().items()}
        return ", ".join(f"{kind} {sent} sent / {failed[kind]} failed" for kind, sent in self.sent().items())


def _pids(stack: Stack) -> list[int]:
    return [replica.process.pid for replica in stack.replicas if replica.process is not None]


def test_a_password_rotation_under_load_fails_nothing(
    stack: Stack, dicom: DicomEndpoint, secrets_source: FetchSecrets, runtime_report: dict[str, object]
) -> None:
    assert stack.postgres is not None and stack.envoy is not None
    replicas_before, envoy_before = _pids(stack), stack.envoy.process
    password = database_password()
    load = SteadyLoad(stack, dicom)
    with load.running():
        start = time.monotonic()
        stack.postgres.set_password(password)  # sessions already open keep working
        secrets_source.set_database_password(password)
        done = secrets_source.refresh(stack)
        seconds = time.monotonic() - start
    runtime_report["password rotation under load"] = f"{load.summary()}; refresh took {seconds:.0f}s"
    assert done.returncode == 0, done.stderr[-3000:]
    assert all(not failed for failed in load.failures().values()), load.failures()
    assert all(sent > 0 for sent in load.sent().values()), load.sent()
    # Every replica was replaced and now logs in with the new password; Envoy stayed.
    assert not set(_pids(stack)) & set(replicas_before)
    assert all(stack.probe(replica) for replica in stack.replicas)
    assert stack.envoy.process is envoy_before and "replacing envoy" not in done.stderr


def test_a_secret_that_does_not_work_leaves_the_old_replicas_serving(
    stack: Stack, dicom: DicomEndpoint, secrets_source: FetchSecrets, runtime_report: dict[str, object]
) -> None:
    assert stack.postgres is not None
    installed = (stack.secrets_dir / "ORTHANC__POSTGRESQL__CONNECTION_URI").read_bytes()
    replicas_before = _pids(stack)
    secrets_source.set_database_password(database_password())  # never set in PostgreSQL
    load = SteadyLoad(stack, dicom)
    try:
        with load.running():
            done = secrets_source.refresh(stack, BAD_SECRET_ENV)
    finally:
        secrets_source.set_database_password(stack.postgres.password)
    runtime_report["wrong password in the secret, under load"] = load.summary()
    assert done.returncode != 0
    assert "the previous ones are back" in done.stderr, done.stderr[-3000:]
    assert all(not failed for failed in load.failures().values()), load.failures()
    # The first replica tried the secret and is back on the previous one; the others never moved.
    assert (stack.secrets_dir / "ORTHANC__POSTGRESQL__CONNECTION_URI").read_bytes() == installed
    assert _pids(stack)[1:] == replicas_before[1:]
    assert all(stack.probe(replica) for replica in stack.replicas)
    stack.wait_replicas_healthy()
    assert not [p.name for p in stack.secrets_dir.iterdir() if p.name.startswith(".")]
