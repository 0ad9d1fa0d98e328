"""Shared fixtures for the checks of the rendered host files (tests/static)."""

from __future__ import annotations

import pytest

from orthweb.host.context import HostAppContext
from orthweb.host.render import render_host_files
from orthweb.shared.sizing import index_connections_for
from tests.static.static_checks import FakeSecrets, SiteCertificate, make_site_certificate

ACCOUNT = "123456789012"
REGION = "eu-west-3"
# What seals Orthanc's audit lines on these hosts (a stack draws its own).
AUDIT_SEAL = "staticseal0000000001"


@pytest.fixture(scope="session")
def app_context() -> HostAppContext:
    """A realistic context, as compute.py fills it from Pulumi outputs."""
    return HostAppContext(
        host_role="primary",
        stack="dev",
        region=REGION,
        templates_digest="3f9c2a1b7d4e5f60",
        orthanc_image="orthancteam/orthanc:25.12.3",
        envoy_image="envoyproxy/envoy:v1.40.0",
        orthanc_replicas=3,
        index_connections=index_connections_for("db.t4g.small", replicas_per_host=3),
        dicom_bucket="orthweb-dev-dicom-a1b2c3",
        bundle_bucket="orthweb-dev-host-bundles-d4e5f6",
        db_identifier="orthweb-dev-index",
        orthanc_credentials_secret_arn=(
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:orthweb/dev/orthanc-users-Ab12Cd"
        ),
        site_tls_secret_arn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:orthweb/dev/site-tls-Ef34Gh",
        audit_seal=AUDIT_SEAL,
        compose_version="2.29.7",
        site_name="orthanc.example.org",
    )


@pytest.fixture(scope="session")
def rendered(app_context: HostAppContext) -> dict[str, str]:
    return render_host_files(app_context)


@pytest.fixture(scope="session")
def site_certificate(tmp_path_factory: pytest.TempPathFactory) -> SiteCertificate:
    return make_site_certificate(tmp_path_factory.mktemp("site-tls"))


@pytest.fixture(scope="session")
def fake_secrets() -> FakeSecrets:
    return FakeSecrets()
