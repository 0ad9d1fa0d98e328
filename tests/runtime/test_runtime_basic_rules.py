"""Basic authentication keeps its single admin, and its one rule holds however a request is
written: nobody registers a modality or a peer over REST (Orthanc would keep the registration on
the replica that took it). Through the site (Envoy and Orthanc's filter), straight to each replica
(Orthanc's filter alone) and through Envoy to a recording upstream (Envoy's rules alone)."""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Iterator

import pytest

from orthweb.host.render import render_host_files
from orthweb.shared import access
from tests.runtime.conftest import runtime_context
from tests.runtime.role_attacks import REGISTRATION_ATTACKS
from tools.harness import Stack
from tools.harness.orthanc_view import orthanc_view
from tools.harness.raw_http import request_bytes, send
from tools.harness.sso_site import SsoSite

pytestmark = pytest.mark.runtime

SUCCESS = range(200, 300)


def registrations(stack: Stack) -> list[tuple[int, bytes, bytes]]:
    """Each replica's modalities and peers, asked directly."""
    found = []
    for replica in stack.replicas:
        modalities = stack.request("/modalities", base=replica.base_url, credential=stack.admin)
        peers = stack.request("/peers", base=replica.base_url, credential=stack.admin)
        found.append((replica.index, modalities[2], peers[2]))
    return found


def _send_all(
    port: int, tls: ssl.SSLContext | None, ids: dict[str, str]
) -> tuple[dict[str, dict[int, int]], list[str]]:
    outcomes: dict[str, Counter[int]] = {}
    refused_not = []
    for attack in REGISTRATION_ATTACKS:
        method, target, headers, body = attack.request(ids)
        answer = send(port, request_bytes(method, target, (("Authorization", ids["admin"]), *headers), body), tls=tls)
        outcomes.setdefault(attack.klass, Counter())[answer.status] += 1
        if answer.status in SUCCESS:
            refused_not.append(f"{attack.klass}: {method} {target}: {answer.status}")
    return {k: dict(sorted(v.items())) for k, v in outcomes.items()}, refused_not


def test_nobody_registers_through_the_site(stack: Stack, runtime_report: dict[str, object]) -> None:
    before = registrations(stack)
    ids = {"host": f"127.0.0.1:{stack.https_port}", "admin": stack.admin.header}
    outcomes, answered = _send_all(stack.https_port, stack.ssl_context(), ids)
    runtime_report["basic mode, registrations through the site: HTTP status per class"] = outcomes
    assert not answered
    assert registrations(stack) == before


def test_orthancs_filter_alone_refuses_every_spelling(stack: Stack, runtime_report: dict[str, object]) -> None:
    """Straight to each replica, no Envoy at all: the filter sees Orthanc's own reading."""
    before = registrations(stack)
    counts: Counter[int] = Counter()
    for replica in stack.replicas:
        ids = {"host": f"127.0.0.1:{replica.http_port}", "admin": stack.admin.header}
        outcomes, answered = _send_all(replica.http_port, None, ids)
        assert not answered, (replica.name, answered)
        for per_class in outcomes.values():
            counts.update(per_class)
    runtime_report["basic mode, registrations straight to each replica: HTTP status"] = dict(counts)
    assert registrations(stack) == before
    assert counts[403] > 0


@pytest.fixture(scope="module")
def recorded_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsoSite]:
    rendered = render_host_files(runtime_context(replicas=1, stack="basicrec"))
    with SsoSite(rendered, None, None, tmp_path_factory.mktemp("recorded-basic")) as running:
        yield running


def test_envoys_rules_alone_let_no_registration_through(recorded_basic: SsoSite) -> None:
    upstream = recorded_basic.upstream
    assert upstream is not None
    ids = {"host": recorded_basic.site_address, "admin": recorded_basic.admin.header}
    tls = ssl.create_default_context(cafile=str(recorded_basic.site_ca))
    _send_all(recorded_basic.https_port, tls, ids)
    arrived = [orthanc_view(r.method, r.path, r.headers) for r in upstream.seen]
    reached = [view for view in arrived if view is not None and not access.allows(None, view.method, view.uri)]
    assert reached == []
