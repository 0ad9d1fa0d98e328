"""Shared fixtures (the dev and prod stacks evaluated once per session, SSH keys), and how the
suite runs on two processes (scripts/test runs pytest-xdist): the tests of one module that starts
servers run in order on one worker, so a module's fixtures and the lines its tests leave in a stack's
logs stay with it, while the two workers share the modules out; the runtime measurements come back
from the workers to be printed at the end."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from orthweb.evaluate import Evaluation, evaluate


def openssh_public(key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture(scope="session")
def empty_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HOME without ~/.ssh, so evaluations do not depend on the machine running them."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def ed25519_public_key() -> str:
    return openssh_public(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def rsa_public_key() -> str:
    return openssh_public(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def dev(empty_home: Path) -> Evaluation:
    return evaluate("dev", home=empty_home)


@pytest.fixture(scope="session")
def prod(empty_home: Path) -> Evaluation:
    return evaluate("prod", home=empty_home)


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest, dev: Evaluation, prod: Evaluation) -> Evaluation:
    return dev if request.param == "dev" else prod


# Measurements the runtime tests record (`runtime_report`), printed after the test summary.
_RUNTIME_REPORT: dict[str, object] = {}
_SESSION_START = time.monotonic()
_WORKER_OUTPUT_KEY = "orthweb_runtime_report"


@pytest.fixture(scope="session")
def runtime_report() -> dict[str, object]:
    return _RUNTIME_REPORT


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # --dist loadgroup sends a group to one worker; tests without a group are shared out. First:
    # the worker's own hook (registered after this file) turns the group marker into the node id
    # suffix the scheduler reads, and a marker added after it is ignored.
    for item in items:
        if item.get_closest_marker("runtime"):
            module = item.nodeid.split("::", 1)[0].removesuffix(".py").replace("/", ".")
            item.add_marker(pytest.mark.xdist_group(f"servers-{module}"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """On a pytest-xdist worker with --dist loadgroup: every server test must carry its group in
    its id by now, or the scheduler shares a module's tests out over both workers, each with its
    own copy of the module's fixtures and stacks. Stop instead of running that way."""
    # xdist's worker sets the option; a run without -n (or xdist's controller) has no such option.
    if not getattr(session.config.option, "loadgroup", False):
        return
    ungrouped = [i.nodeid for i in session.items if i.get_closest_marker("runtime") and "@" not in i.nodeid]
    if ungrouped:
        raise RuntimeError(
            f"pytest-xdist did not group {len(ungrouped)} server tests (e.g. {ungrouped[0]}): "
            "install the pytest and pytest-xdist versions pyproject.toml names"
        )


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _RUNTIME_REPORT:
        _RUNTIME_REPORT["runtime session wall time, s"] = round(time.monotonic() - _SESSION_START, 1)
    worker_output: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if worker_output is not None and _RUNTIME_REPORT:
        worker_output[_WORKER_OUTPUT_KEY] = json.dumps(_RUNTIME_REPORT, default=str)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist, in the controlling process: a worker finished and sent what it measured."""
    sent = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT_KEY)
    if sent:
        _RUNTIME_REPORT.update(json.loads(sent))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RUNTIME_REPORT:
        return
    terminalreporter.section("orthweb runtime measurements")
    for key, value in _RUNTIME_REPORT.items():
        terminalreporter.write_line(f"{key}: {value}")
