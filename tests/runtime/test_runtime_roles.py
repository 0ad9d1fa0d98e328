"""The roles hold under attack, with sign-in, at each layer and at both.

Every crafted request of role_attacks.py goes three ways:
- through the whole site (the real Envoy with the rendered sign-in config, Debian's Orthanc with
  the rendered role filter): refused, and Orthanc's state (instances, log level, registrations,
  jobs, protection, metadata, attachments, metrics) unchanged after each one;
- through an Envoy with its access rules taken out (tools.harness.layers) to the same Orthanc:
  Orthanc's filter alone keeps the state unchanged;
- through the whole Envoy to a recording upstream instead of Orthanc: nothing that reached it is,
  as Orthanc 1.12 would read it (tools.harness.orthanc_view), beyond the role Envoy named, and
  that role is the token's.
"""

from __future__ import annotations

import dataclasses
import json
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from orthweb.clients.dicom import make_study, to_bytes
from orthweb.host.render import render_host_files
from orthweb.shared import access, sso
from tests.runtime.conftest import MACHINE_ID, runtime_context, site_secret_arn
from tests.runtime.role_attacks import (
    ATTACKS,
    COOKIE_ATTACKS,
    NO_TOKEN,
    TOKEN_ATTACKS,
    Attack,
)
from tools.harness import Stack
from tools.harness.layers import envoy_rules_present, without_envoy_rules
from tools.harness.oidc import Browser, CognitoLike, sign_in_context
from tools.harness.orthanc_view import orthanc_view
from tools.harness.raw_http import RawResponse, request_bytes, send
from tools.harness.sso_site import SsoSite

pytestmark = pytest.mark.runtime

# Orthanc's state after each request, read with the internal credential and the admin role.
STATE_PATHS = (
    "/instances",
    "/tools/log-level",
    "/modalities",
    "/peers",
    "/jobs",
    "/patients/{patient}/protected",
    "/instances/{instance}/metadata",
    "/instances/{instance}/attachments",
    "/tools/metrics",
    "/dicom-web/servers",
)
SUCCESS = range(200, 300)


@dataclass
class Site:
    """Where the requests go: an Envoy's HTTPS port, trusting the site certificate; `host` is the
    address the session cookies were issued for."""

    port: int
    tls: ssl.SSLContext
    host: str

    def send(self, method: str, target: str, headers: tuple[tuple[str, str], ...], body: bytes) -> RawResponse:
        return send(self.port, request_bytes(method, target, headers, body, host=self.host), tls=self.tls)


# --- tokens and sessions -------------------------------------------------------------------------------


def role_token(provider: CognitoLike, role: str) -> str:
    return provider.access_token(username=f"{role}@example.org", **{"cognito:groups": [role]})


def bad_token(provider: CognitoLike, kind: str) -> str:
    """The tokens of role_attacks.TOKEN_KINDS, each claiming the admin group where it can."""
    admin = {"cognito:groups": [sso.ADMIN]}
    now = int(time.time())
    tokens: dict[str, Callable[[], str]] = {
        "alg none": lambda: provider.unsigned_token(**admin),
        "HS256 signed with the public key": lambda: provider.public_key_hmac_token(**admin),
        "another pool's key": lambda: provider.forged_token(**admin),
        "expired": lambda: provider.access_token(exp=now - 120, **admin),
        "not yet valid": lambda: provider.access_token(nbf=now + 600, **admin),
        "ID token": lambda: provider.access_token(token_use="id", **admin),
        "another client": lambda: provider.access_token(client_id="someone-else", **admin),
        "no group": lambda: provider.access_token(),
        "groups as a string": lambda: provider.access_token(**{"cognito:groups": sso.ADMIN}),
    }
    return tokens[kind]()


def sign_in_cookies(provider: CognitoLike, site_ca: Path, base: str) -> dict[str, str]:
    """A viewer's browser session at the site: its cookies, by name."""
    provider.set_user("viewer@example.org", (sso.VIEWER,))
    browser = Browser(provider.ca_file, site_ca)
    try:
        browser.sign_in(f"{base}/system", "viewer@example.org")
        return {cookie.name: str(cookie.value) for cookie in browser.client.cookies.jar}
    finally:
        browser.close()


def tampered(cookies: dict[str, str], kind: str, provider: CognitoLike, internal: str) -> tuple[tuple[str, str], ...]:
    """The headers of role_attacks.COOKIE_KINDS made from a viewer's session cookies."""
    access_name = sso.COOKIE_NAMES["bearer_token"]
    changed = dict(cookies)
    extra: tuple[tuple[str, str], ...] = ()
    if kind == "access cookie altered":
        value = changed[access_name]
        changed[access_name] = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    elif kind == "access cookie of an admin":
        changed[access_name] = provider.access_token(**{"cognito:groups": [sso.ADMIN]})
    elif kind == "expiry moved on":
        name = sso.COOKIE_NAMES["oauth_expires"]
        changed[name] = str(int(changed[name]) + 86400)
    elif kind == "cookies without their signature":
        changed.pop(sso.COOKIE_NAMES["oauth_hmac"])
    elif kind == "session and the internal credential":
        extra = (("Authorization", internal),)
    else:
        raise AssertionError(kind)
    cookie = "; ".join(f"{name}={value}" for name, value in changed.items())
    return (("Cookie", cookie), *extra)


@dataclass
class Attacker:
    provider: CognitoLike
    ids: dict[str, str]
    cookies: dict[str, str]

    def request(self, attack: Attack) -> tuple[str, str, tuple[tuple[str, str], ...], bytes]:
        method, target, headers, body = attack.request(self.ids)
        if attack.klass == "tokens":
            credential: tuple[tuple[str, str], ...] = (
                ("Authorization", f"Bearer {bad_token(self.provider, attack.role)}"),
            )
        elif attack.klass == "tampered cookies":
            credential = tampered(self.cookies, attack.role, self.provider, self.ids["internal"])
        elif attack.role == NO_TOKEN:
            credential = ()
        else:
            credential = (("Authorization", f"Bearer {role_token(self.provider, attack.role)}"),)
        return method, target, credential + headers, body


ALL_ATTACKS = ATTACKS + TOKEN_ATTACKS + COOKIE_ATTACKS


# --- fixtures -------------------------------------------------------------------------------------------


def _replica_request(stack: Stack, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    status, _, answer = stack.request(
        path,
        method=method,
        body=body,
        base=stack.replica(1).base_url,
        credential=stack.admin,
        headers={sso.ROLE_HEADER: sso.ADMIN},
    )
    return status, answer


@pytest.fixture(scope="module")
def seeded(sso_stack: Stack, sso_provider: CognitoLike) -> dict[str, str]:
    """One study stored by an uploader through the site; the names the attacks' templates use."""
    site = Site(sso_stack.https_port, sso_stack.ssl_context(), f"127.0.0.1:{sso_stack.https_port}")
    instance = to_bytes(make_study(1, patient_id="ORTHWEB-ROLES")[0])
    token = (
        ("Authorization", f"Bearer {role_token(sso_provider, sso.UPLOADER)}"),
        ("Content-Type", "application/dicom"),
    )
    answer = site.send("POST", "/instances", token, instance)
    assert answer.status == 200, answer.body
    stored = json.loads(answer.body)
    return {
        "instance": stored["ID"],
        "patient": stored["ParentPatient"],
        "study": stored["ParentStudy"],
        "series": stored["ParentSeries"],
        "host": site.host,
        "internal": sso_stack.admin.header,
    }


def orthanc_state(stack: Stack, ids: dict[str, str]) -> dict[str, str]:
    return {path: _replica_request(stack, "GET", path.format(**ids))[1].decode() for path in STATE_PATHS}


@pytest.fixture(scope="module")
def session_cookies(sso_provider: CognitoLike, sso_stack: Stack) -> dict[str, str]:
    return sign_in_cookies(sso_provider, sso_stack.site_ca, sso_stack.https_base)


@pytest.fixture(scope="module")
def without_rules(sso_stack: Stack) -> Site:
    """A second Envoy in front of the same Orthanc, its access rules taken out."""
    port = sso_stack.start_variant_envoy("envoy-without-rules", without_envoy_rules)
    return Site(port, sso_stack.ssl_context(), f"127.0.0.1:{sso_stack.https_port}")


@pytest.fixture(scope="module")
def recorded(sso_provider: CognitoLike, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsoSite]:
    """The whole Envoy in front of a recording upstream instead of Orthanc."""
    sso_ctx = sign_in_context(sso_provider, machine_client_id=MACHINE_ID, site_client_secret_arn=site_secret_arn("rec"))
    rendered = render_host_files(dataclasses.replace(runtime_context(replicas=1, stack="rec"), sso=sso_ctx))
    with SsoSite(rendered, sso_ctx, sso_provider, tmp_path_factory.mktemp("recorded")) as running:
        yield running


# --- the corpus ----------------------------------------------------------------------------------------

CLASSES = {
    "encoded separators",
    "encoded dots",
    "double encoding",
    "overlong UTF-8",
    "dot segments after decoding",
    "path parameters",
    "repeated slashes",
    "trailing dot or slash",
    "case changes",
    "absolute-form targets",
    "override header",
    "override argument",
    "unusual methods",
    "bodies on GET",
    "spoofed identity",
    "tokens",
    "tampered cookies",
}


def test_the_corpus_tries_every_class_with_enough_requests() -> None:
    counts = Counter(attack.klass for attack in ALL_ATTACKS)
    assert set(counts) == CLASSES
    from_roles = [a for a in ALL_ATTACKS if a.role in (sso.VIEWER, sso.UPLOADER)]
    assert len(from_roles) >= 60 and {a.role for a in from_roles} == {sso.VIEWER, sso.UPLOADER}


def _run(
    site: Site, attacker: Attacker, after_each: Callable[[Attack, RawResponse], list[str]]
) -> tuple[dict[str, dict[int, int]], list[str]]:
    """Send every attack; the status codes per class, and what `after_each` found wrong."""
    outcomes: dict[str, Counter[int]] = {}
    problems: list[str] = []
    for attack in ALL_ATTACKS:
        try:
            answer = site.send(*attacker.request(attack))
        except OSError as error:  # a timeout among them: the request held a server
            problems.append(f"{attack.klass}: {attack.role} {attack.method} {attack.target}: no answer ({error})")
            continue
        outcomes.setdefault(attack.klass, Counter())[answer.status] += 1
        problems += [
            f"{attack.klass}: {attack.role} {attack.method} {attack.target}: {p}" for p in after_each(attack, answer)
        ]
    return {klass: dict(sorted(counts.items())) for klass, counts in outcomes.items()}, problems


def _state_keeper(stack: Stack, ids: dict[str, str]) -> Callable[[Attack, RawResponse], list[str]]:
    """After each request: what changed in Orthanc's state (and the new state becomes the reference)."""
    reference = orthanc_state(stack, ids)

    def check(attack: Attack, answer: RawResponse) -> list[str]:
        nonlocal reference
        now = orthanc_state(stack, ids)
        changed = [
            f"{path} changed to {now[path][:80]!r} (HTTP {answer.status})"
            for path in now
            if now[path] != reference[path]
        ]
        reference = now
        return changed

    return check


# --- through both layers -------------------------------------------------------------------------------------


def test_no_crafted_request_gets_through_the_site(
    sso_stack: Stack,
    sso_provider: CognitoLike,
    seeded: dict[str, str],
    session_cookies: dict[str, str],
    runtime_report: dict[str, object],
) -> None:
    site = Site(sso_stack.https_port, sso_stack.ssl_context(), seeded["host"])
    keep = _state_keeper(sso_stack, seeded)

    def refused_and_unchanged(attack: Attack, answer: RawResponse) -> list[str]:
        return [f"answered {answer.status}"] * (answer.status in SUCCESS) + keep(attack, answer)

    outcomes, problems = _run(site, Attacker(sso_provider, seeded, session_cookies), refused_and_unchanged)
    runtime_report["roles, whole site (Envoy + Orthanc's filter): HTTP status per class"] = outcomes
    assert not problems, "\n".join(problems)


# --- Orthanc's filter alone --------------------------------------------------------------------------------


def test_orthancs_filter_refuses_on_its_own(
    sso_stack: Stack,
    sso_provider: CognitoLike,
    seeded: dict[str, str],
    session_cookies: dict[str, str],
    without_rules: Site,
    runtime_report: dict[str, object],
) -> None:
    variant = yaml.safe_load((sso_stack.work_dir / "envoy-without-rules" / "envoy.yaml").read_text())
    assert envoy_rules_present(variant) == set()
    outcomes, problems = _run(
        without_rules, Attacker(sso_provider, seeded, session_cookies), _state_keeper(sso_stack, seeded)
    )
    runtime_report["roles, Envoy's rules taken out (Orthanc's filter alone): HTTP status per class"] = outcomes
    assert not problems, "\n".join(problems)
    # The refusals came from Orthanc's filter (403, empty body), not from an Envoy rule (none is left).
    for klass in ("encoded separators", "override header", "override argument", "spoofed identity"):
        assert outcomes[klass].get(403, 0) > 0, (klass, outcomes[klass])


# --- Envoy's rules alone -----------------------------------------------------------------------------------


def test_envoys_rules_refuse_on_their_own(
    recorded: SsoSite, sso_provider: CognitoLike, seeded: dict[str, str], runtime_report: dict[str, object]
) -> None:
    upstream = recorded.upstream
    assert upstream is not None
    cookies = sign_in_cookies(sso_provider, recorded.site_ca, recorded.base)
    ids = {**seeded, "host": recorded.site_address, "internal": recorded.admin.header}
    site = Site(recorded.https_port, ssl.create_default_context(cafile=str(recorded.site_ca)), recorded.site_address)
    seen_before = len(upstream.seen)

    def only_what_the_role_may(attack: Attack, answer: RawResponse) -> list[str]:
        nonlocal seen_before
        arrived, seen_before = upstream.seen[seen_before:], len(upstream.seen)
        problems = []
        for request in arrived:
            role = request.headers.get(sso.ROLE_HEADER)
            view = orthanc_view(request.method, request.path, request.headers)
            if role != attack.role:
                problems.append(f"reached the upstream as role {role!r}")
            elif view is not None and not access.allows(role, view.method, view.uri):
                problems.append(f"reached the upstream as {view.method} {view.uri} ({request.method} {request.path})")
        return problems

    outcomes, problems = _run(site, Attacker(sso_provider, ids, cookies), only_what_the_role_may)
    runtime_report["roles, Envoy alone (recording upstream): HTTP status per class"] = outcomes
    assert not problems, "\n".join(problems)


# --- the GET routes that change state --------------------------------------------------------------------


def concrete_paths(route: access.Route, ids: dict[str, str]) -> list[str]:
    """Every spelling of a route of STATE_CHANGING_GETS with the seeded resources in its placeholders."""
    level_ids = {"patients": ids["patient"], "studies": ids["study"], "series": ids["series"]}
    paths = [""]
    for segment in route.segments:
        if segment == access.ANY_SEGMENT:
            paths = [p + "/" + level_ids.get(p.split("/")[1], ids["study"]) for p in paths]
        else:
            paths = [p + "/" + word for p in paths for word in segment.split("|")]
    return [p + ("?resources=" + ids["study"] if p.startswith("/tools/") else "") for p in paths]


READERS_REFUSED = [s for s in access.STATE_CHANGING_GETS if not s.readers_may]


def test_readers_reach_no_state_changing_get_route(
    sso_stack: Stack,
    sso_provider: CognitoLike,
    seeded: dict[str, str],
    without_rules: Site,
    recorded: SsoSite,
) -> None:
    """access.STATE_CHANGING_GETS lists, from the sources, the GET routes of Orthanc 1.12 and of the
    plugins the image loads that change what the server keeps; viewers and uploaders reach none
    of those they may not, through the site, past Orthanc's filter alone, or past Envoy alone."""
    assert recorded.upstream is not None
    whole = Site(sso_stack.https_port, sso_stack.ssl_context(), seeded["host"])
    paths = [path for effect in READERS_REFUSED for path in concrete_paths(effect.route, seeded)]
    assert len(paths) == 10
    before, seen = orthanc_state(sso_stack, seeded), len(recorded.upstream.seen)
    for role in (sso.VIEWER, sso.UPLOADER):
        bearer = (("Authorization", f"Bearer {role_token(sso_provider, role)}"),)
        for path in paths:
            assert whole.send("GET", path, bearer, b"").status == 403, (role, path)
            assert without_rules.send("GET", path, bearer, b"").status == 403, (role, path)
            recorded_site = Site(recorded.https_port, ssl.create_default_context(cafile=str(recorded.site_ca)), "x")
            assert recorded_site.send("GET", path, bearer, b"").status == 403, (role, path)
    assert orthanc_state(sso_stack, seeded) == before
    assert len(recorded.upstream.seen) == seen


def test_an_admin_may_and_it_does_change_state(
    sso_stack: Stack, sso_provider: CognitoLike, seeded: dict[str, str]
) -> None:
    """The refused route is real: an admin's archive download is answered and leaves a job."""
    site = Site(sso_stack.https_port, sso_stack.ssl_context(), seeded["host"])
    bearer = (("Authorization", f"Bearer {role_token(sso_provider, sso.ADMIN)}"),)
    jobs = json.loads(_replica_request(sso_stack, "GET", "/jobs")[1])
    answer = site.send("GET", f"/studies/{seeded['study']}/archive", bearer, b"")
    assert answer.status == 200 and answer.body[:2] == b"PK"
    assert len(json.loads(_replica_request(sso_stack, "GET", "/jobs")[1])) == len(jobs) + 1


# --- what each role does keeps working through both layers ----------------------------------------------


def test_each_role_still_does_its_work(sso_stack: Stack, sso_provider: CognitoLike, seeded: dict[str, str]) -> None:
    site = Site(sso_stack.https_port, sso_stack.ssl_context(), seeded["host"])
    viewer = (("Authorization", f"Bearer {role_token(sso_provider, sso.VIEWER)}"),)
    # The machine client's viewer token: the role comes from its scope, not a group.
    machine = sso_provider.access_token(client_id=MACHINE_ID, scope=sso.scope(sso.VIEWER), auth_time=None)
    study_uid = json.loads(_replica_request(sso_stack, "GET", f"/studies/{seeded['study']}")[1])["MainDicomTags"][
        "StudyInstanceUID"
    ]
    reads = [
        ("GET", f"/studies/{seeded['study']}", viewer, b""),
        ("GET", "/dicom-web/studies", viewer, b""),
        ("GET", f"/dicom-web/studies/{study_uid}/metadata", viewer, b""),
        ("POST", "/tools/find", viewer, b'{"Level": "Study", "Query": {}}'),
        ("GET", "/system", (("Authorization", f"Bearer {machine}"),), b""),
    ]
    for method, path, headers, body in reads:
        assert site.send(method, path, headers, body).status == 200, path


# --- Orthanc's filter fails closed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "path", "expected"),
    [
        ({}, "/system", 403),  # the internal credential without a role
        ({}, "/changes?last", 200),  # ... but the replica's health probe, from inside its container
        ({sso.ROLE_HEADER: "superadmin"}, "/system", 403),
        ({sso.ROLE_HEADER: "Admin"}, "/system", 403),
        ({sso.ROLE_HEADER: sso.VIEWER}, "/system", 200),
    ],
)
def test_orthancs_filter_fails_closed_without_a_known_role(
    sso_stack: Stack, headers: dict[str, str], path: str, expected: int
) -> None:
    replica = sso_stack.replica(1).base_url
    assert sso_stack.request(path, base=replica, credential=sso_stack.admin, headers=headers)[0] == expected
    # The health-check account reads /changes only, whatever role it names.
    assert sso_stack.request("/system", base=replica, credential=sso_stack.health, headers=headers)[0] == 403
