"""The host layer: the render context, template loading and database connection sizing."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import os
from pathlib import Path

import jinja2
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from orthweb.host import render
from orthweb.host.context import HostAppContext
from orthweb.host.render import USER_DATA_LIMIT_BYTES, render_host_files, render_user_data, render_user_data_gzip_base64
from orthweb.shared.sizing import (
    MAX_CONNECTIONS_PER_REPLICA,
    RDS_CLASS_MEMORY_GIB,
    RESERVED_CONNECTIONS,
    index_connections_for,
    rds_max_connections,
)

EXPECTED_FILES = {
    "cloud-init.yaml",
    "envoy.yaml",
    "orthanc.json",
    "orthweb-filter.lua",
    "docker-compose.yml",
    "fetch-secrets.sh",
    "install-compose.sh",
    "start.sh",
    "docker-daemon.json",
    "orthweb.service",
    "orthweb-refresh.service",
    "orthweb-refresh.timer",
    "cloudwatch-agent.json",
    "prometheus.yaml",
    "activate.sh",
    "amazon-trust-services.pem",
    "deployment.json",
    "bootstrap.sh",
}


def test_renders_every_host_file(rendered: dict[str, str]) -> None:
    assert set(rendered) == EXPECTED_FILES
    assert rendered["cloud-init.yaml"].startswith("#cloud-config\n")


def test_rendering_does_not_depend_on_the_working_directory(
    app_context: HostAppContext, rendered: dict[str, str], tmp_path: Path
) -> None:
    assert render.TEMPLATES_DIR.is_absolute()
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert render_host_files(app_context) == rendered
    finally:
        os.chdir(cwd)


def test_templates_refuse_undefined_names() -> None:
    env = render._environment()
    assert env.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ ctx.no_such_field }}").render(ctx=object())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("host_role", "tertiary"),
        ("stack", "dev stack"),
        ("region", "europe"),
        ("templates_digest", "main"),
        ("orthanc_image", "orthancteam/orthanc"),
        ("orthanc_image", "orthancteam/orthanc:latest"),
        ("envoy_image", "envoyproxy/envoy:v1.40.0; rm -rf /"),
        ("orthanc_replicas", 0),
        ("orthanc_replicas", 11),
        ("index_connections", 0),
        ("dicom_bucket", "Bad_Bucket"),
        ("bundle_bucket", "s3://bucket"),
        ("db_identifier", "1db"),
        ("orthanc_credentials_secret_arn", "orthweb/dev/orthanc"),
        ("site_tls_secret_arn", "arn:aws:s3:::bucket"),
        ("compose_version", "latest"),
        ("site_name", "not a name"),
        ("compose_sha256_x86_64", "abc"),
    ],
)
def test_context_rejects_bad_values_naming_the_field(app_context: HostAppContext, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"HostAppContext\.{field}"):
        dataclasses.replace(app_context, **{field: value})


@pytest.mark.parametrize(
    "image",
    [
        "orthancteam/orthanc:25.12.3",
        "envoyproxy/envoy:v1.40.0",
        "registry.example.com:5000/o/orthanc:1",
        "a/b@sha256:" + "0" * 64,
    ],
)
def test_pinned_images_are_accepted(app_context: HostAppContext, image: str) -> None:
    assert dataclasses.replace(app_context, orthanc_image=image).orthanc_image == image


@pytest.mark.parametrize("replicas", [1, 3, 5])
def test_replica_count_reaches_compose_and_envoy(app_context: HostAppContext, replicas: int) -> None:
    files = render_host_files(dataclasses.replace(app_context, orthanc_replicas=replicas))
    names = [f"orthanc-{i}" for i in range(1, replicas + 1)]
    services = yaml.safe_load(files["docker-compose.yml"])["services"]
    assert sorted(services) == sorted(["envoy", *names])
    clusters = yaml.safe_load(files["envoy.yaml"])["static_resources"]["clusters"]
    for cluster, port in (("orthanc_http", 8042), ("orthanc_dicom", 4242)):
        (config,) = [c for c in clusters if c["name"] == cluster]
        endpoints = [
            e["endpoint"]["address"]["socket_address"]
            for group in config["load_assignment"]["endpoints"]
            for e in group["lb_endpoints"]
        ]
        assert [(e["address"], e["port_value"]) for e in endpoints] == [(n, port) for n in names]


def test_user_data_fits_ec2_once_gzipped_and_is_deterministic(app_context: HostAppContext) -> None:
    packed = render_user_data_gzip_base64(app_context)
    raw = base64.b64decode(packed)
    assert len(raw) <= USER_DATA_LIMIT_BYTES
    assert gzip.decompress(raw).decode() == render_user_data(app_context)
    assert render_user_data_gzip_base64(app_context) == packed


# --- IndexConnectionsCount -------------------------------------------------------------------


def test_max_connections_estimates_stay_at_or_below_rds() -> None:
    # RDS reports about 80 on db.t3.micro and about 190 on db.t3.small.
    assert rds_max_connections("db.t3.micro") <= 87
    assert rds_max_connections("db.t3.small") <= 198
    assert rds_max_connections("db.r6g.2xlarge") == 5000


def test_unknown_class_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown RDS instance class 'db\.x9\.huge'"):
        index_connections_for("db.x9.huge", replicas_per_host=3)


def test_too_many_replicas_for_the_class_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too few for 10 replicas on 4 hosts"):
        index_connections_for("db.t3.micro", replicas_per_host=10, hosts=4)


@given(
    db_class=st.sampled_from(sorted(RDS_CLASS_MEMORY_GIB)),
    replicas=st.integers(min_value=1, max_value=10),
    hosts=st.integers(min_value=1, max_value=2),
)
def test_every_replica_on_every_host_fits(db_class: str, replicas: int, hosts: int) -> None:
    try:
        per_replica = index_connections_for(db_class, replicas_per_host=replicas, hosts=hosts)
    except ValueError:
        assert (rds_max_connections(db_class) - RESERVED_CONNECTIONS) // (replicas * hosts) < 2
        return
    assert 1 <= per_replica <= MAX_CONNECTIONS_PER_REPLICA
    used = (per_replica + 1) * replicas * hosts + RESERVED_CONNECTIONS
    assert used <= rds_max_connections(db_class)
