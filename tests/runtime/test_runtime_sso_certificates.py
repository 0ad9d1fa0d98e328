"""With sign-in, Envoy's certificate expiry gauge is the site certificate's days left.

The certificate alarm reads `server.days_until_first_cert_expiring`. Envoy 1.40 takes it over every
certificate it loads, each CA of a trusted bundle included (its admin `/certs` lists them one by
one), and an expired one counts as 0 (envoyproxy/envoy source/server/server.cc sets the gauge to
`daysUntilFirstCertExpires().value_or(0)`; source/common/tls/utility.cc `getDaysUntilExpiration`
has no value for an expired certificate). A system bundle holds expired roots (Debian's
ca-certificates 20230311 on this machine still carries roots that expired in 2023): trusting it for
the Cognito clusters made the real Envoy read 0, a false alarm on every sign-in host. The bundle
ships the five roots Amazon Trust Services publishes (https://www.amazontrust.com/repository/,
"Trust store and pinning recommendations": all five in a custom trust store), and Envoy trusts
only those for Cognito.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from orthweb.host.credentials import Credential
from orthweb.host.layout import APP_DIR
from orthweb.host.render import render_host_files
from orthweb.host.sso_context import TRUSTED_CA_FILE, SsoHostContext
from orthweb.infra.alarm_plan import CERTIFICATE_DAYS_LEFT
from tests.runtime.conftest import runtime_context
from tools.harness import envoy as envoy_mod
from tools.harness.compose_replicas import compose_services, service_files
from tools.harness.envoy import EnvoyProxy, ReplicaPorts
from tools.harness.pki import make_site_certificate
from tools.harness.processes import free_port
from tools.harness.secrets import SecretInputs, write_like_fetch_secrets

# SHA-256 of each root's SubjectPublicKeyInfo, as https://www.amazontrust.com/repository/ lists them.
AMAZON_TRUST_SERVICES_ROOTS = {
    "fbe3018031f9586bcbf41727e417b7d1c45c2f47f93be372a17b96b50757d5a2": "Amazon Root CA 1",
    "7f4296fc5b6a4e3b35d3c369623e364ab1af381d8fa7121533c9d6c633ea2461": "Amazon Root CA 2",
    "36abc32656acfc645c61b71613c4bf21c787f5cabbee48348d58597803d7abc9": "Amazon Root CA 3",
    "f7ecded5c66047d28ed6466b543c40e0743abe81d109254dcf845d4c2c7853c5": "Amazon Root CA 4",
    "2b071c59a0a0ae76b0eadb2bad23bad4580b69c3601b630c2eaf0613afa83f92": (
        "Starfield Services Root Certificate Authority - G2"
    ),
}
# The longest a site certificate pulumi up makes lives (pulumi-tls, the macOS trust rules).
SITE_CERTIFICATE_MAX_DAYS = 825
GAUGE = "server.days_until_first_cert_expiring"


@pytest.fixture(scope="module")
def sso_rendered() -> dict[str, str]:
    context = runtime_context(replicas=1, stack="ssocerts")
    sso = SsoHostContext.for_cognito(
        region=context.region,
        user_pool_id="eu-west-1_Ab12Cd34E",
        domain="orthweb-ssocerts-1234.auth.eu-west-1.amazoncognito.com",
        machine_client_id="4f1machineclient000000",
        site_client_secret_arn=context.site_tls_secret_arn.replace("site-tls", "sso-site-client"),
    )
    return render_host_files(dataclasses.replace(context, sso=sso))


def pinned_roots(rendered: dict[str, str]) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(rendered["amazon-trust-services.pem"].encode())


def spki_sha256(certificate: x509.Certificate) -> str:
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def test_envoy_trusts_exactly_the_roots_amazon_trust_services_publishes(sso_rendered: dict[str, str]) -> None:
    roots = pinned_roots(sso_rendered)
    assert sorted(spki_sha256(root) for root in roots) == sorted(AMAZON_TRUST_SERVICES_ROOTS)
    for root in roots:
        assert root.subject == root.issuer, "each is a self-signed root"
        assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    envoy = yaml.safe_load(sso_rendered["envoy.yaml"])
    trusted = {
        cluster["name"]: cluster["transport_socket"]["typed_config"]["common_tls_context"]["validation_context"]
        for cluster in envoy["static_resources"]["clusters"]
        if cluster["name"].startswith("sso_")
    }
    assert {name: v["trusted_ca"]["filename"] for name, v in trusted.items()} == {
        "sso_token": TRUSTED_CA_FILE,
        "sso_jwks": TRUSTED_CA_FILE,
    }
    volumes = compose_services(sso_rendered)["envoy"]["volumes"]
    assert f"{APP_DIR}/amazon-trust-services.pem:{TRUSTED_CA_FILE}:ro" in volumes


def test_the_roots_outlive_any_site_certificate_by_more_than_the_alarm_window(sso_rendered: dict[str, str]) -> None:
    """Once a pinned root comes within the alarm's window, the gauge is its days, not the site's:
    this fails early enough (about two years) to replace the file before a false alarm."""
    latest_site_expiry = dt.datetime.now(dt.UTC) + dt.timedelta(days=SITE_CERTIFICATE_MAX_DAYS)
    for root in pinned_roots(sso_rendered):
        margin = root.not_valid_after_utc - latest_site_expiry
        assert margin > dt.timedelta(days=CERTIFICATE_DAYS_LEFT), (
            f"{root.subject.rfc4514_string()} expires {root.not_valid_after_utc:%Y-%m-%d}: refresh "
            "templates/amazon-trust-services.pem.j2 from https://www.amazontrust.com/repository/"
        )


def _start_envoy(rendered: dict[str, str], work: Path) -> EnvoyProxy:
    """Envoy alone on the rendered sign-in config, its secret files as fetch-secrets.sh writes
    them, every file at the place compose mounts it (the trusted CAs from the bundle)."""
    site = make_site_certificate(work / "site", "orthweb.test")
    inputs = SecretInputs(
        admin=Credential("admin", "a" * 24),
        health=Credential("healthcheck", "h" * 24),
        db_host="127.0.0.1",
        db_port=5432,
        db_name="orthanc",
        db_user="orthanc",
        db_password="unused",
        site_certificate_pem=site.cert.read_text(),
        site_private_key_pem=site.key.read_text(),
        sso_site_secret={
            "client_id": "7site0client",
            "client_secret": "s" * 40,
            "hmac_secret": "k" * 32,
            "site_address": "orthweb.test",
        },
    )
    secrets, rendered_dir = work / "secrets", work / "rendered"
    write_like_fetch_secrets(inputs, rendered, secrets)
    rendered_dir.mkdir()
    for name, text in rendered.items():
        (rendered_dir / name).write_text(text)
    live = yaml.safe_load((secrets / "envoy.yaml").read_text())
    listeners = [int(x["address"]["socket_address"]["port_value"]) for x in live["static_resources"]["listeners"]]
    ports, admin = {port: free_port() for port in listeners}, free_port()
    config = envoy_mod.rewire(
        live,
        replicas={1: ReplicaPorts(free_port(), free_port())},
        listener_ports=ports,
        admin_port=admin,
        files=service_files(compose_services(rendered)["envoy"], rendered_dir, secrets, APP_DIR),
    )
    (work / "envoy.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return EnvoyProxy(work / "envoy.yaml", admin, ports, work / "envoy.log").start()


def test_the_certificate_gauge_is_the_site_certificates_days_left(sso_rendered: dict[str, str], tmp_path: Path) -> None:
    envoy = _start_envoy(sso_rendered, tmp_path)
    try:
        loaded = json.loads(envoy.admin("/certs"))["certificates"]
        site_days = {int(c["days_until_expiration"]) for e in loaded for c in e["cert_chain"]}
        trusted = [c for e in loaded for c in e["ca_cert"]]
        assert trusted and {c["path"] for c in trusted} == {str(tmp_path / "rendered/amazon-trust-services.pem")}
        # Envoy publishes the gauge at its stats flush (every 5 s by default).
        deadline, gauge = time.monotonic() + 20, 0
        while gauge == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            gauge = int(re.findall(rf"^{re.escape(GAUGE)}: (\d+)$", envoy.admin(f"/stats?filter={GAUGE}"), re.M)[0])
    finally:
        envoy.stop()
    (days,) = site_days
    # The admin page and the gauge each count the days left at their own moment and rounding (seen
    # in a full run: 29 on the page, 30 in the gauge, for a 30-day certificate made minutes before):
    # the same to the day, and far from 0 (an expired root) or a root's years.
    assert abs(gauge - days) <= 1, f"{GAUGE} is {gauge}, the site certificate has {days} days left"
