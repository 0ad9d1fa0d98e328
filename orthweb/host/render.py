"""The jinja2 rendering of `templates/` into each host's bundle and its gzipped cloud-init.

Pure module (no Pulumi imports): `orthweb.infra.user_data` builds a `HostAppContext` from resolved
outputs, stores `render_host(ctx).bundle` in the stack's bundle bucket and hands the user data (a
bootstrap naming the bundle's digest) to EC2. Nothing secret is ever part of the context; the host
fetches its secrets from Secrets Manager at boot (see fetch-secrets.sh).
"""

from __future__ import annotations

import base64
import gzip
import posixpath
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

import jinja2

from orthweb.host.bundle import HostBundle
from orthweb.host.context import HostAppContext
from orthweb.host.layout import (
    APP_DIR,
    BOOTSTRAP,
    DICOM_CLIENTS_FILE,
    DICOM_CLIENTS_SDS_NAME,
    DRAIN_DIR,
    DRAIN_MOUNT,
    ENVOY_ADMIN_PORT,
    ENVOY_SECRET_FILES,
    HEALTH_AUTH_PLACEHOLDER,
    HOST_FILES,
    OPERATOR_SECRET_FILES,
    ORTHANC_DICOM_PORT,
    ORTHANC_HTTP_PORT,
    ORTHANC_KEEP_ALIVE_SECONDS,
    ORTHANC_SECRET_FILES,
    REGISTRATION_REFUSED,
    SECRETS_DIR,
    UPSTREAM_IDLE_TIMEOUT,
    USER_DATA_FILES,
)
from orthweb.shared import access, telemetry
from orthweb.shared.constants import (
    DICOM_TLS_PORT,
    DICOMWEB_ROOT,
    HTTPS_PORT,
    STONE,
    TCP_KEEPALIVE_SECONDS,
    TRANSFER_IDLE_TIMEOUT_SECONDS,
    USER_DATA_NAME,
    VIEWER_PATHS,
    WADO_URI_ROOT,
)
from orthweb.shared.modalities import CERTIFICATE_URI_PATTERN


def _templates_dir() -> Path:
    # An installed wheel carries them as package data (orthweb/templates); a checkout keeps them
    # at the repository root, next to the Pulumi project.
    packaged = Path(str(resources.files("orthweb"))) / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "templates"


TEMPLATES_DIR: Final = _templates_dir()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    return env


def _render(env: jinja2.Environment, template: str, ctx: HostAppContext, **extra: object) -> str:
    return env.get_template(template).render(
        ctx=ctx,
        dicomweb_root=DICOMWEB_ROOT,
        wado_uri_root=WADO_URI_ROOT,
        # Stone resolves its DICOMweb root against the page it is served from.
        stone_dicomweb_root=posixpath.relpath(DICOMWEB_ROOT, VIEWER_PATHS[STONE]),
        app_dir=APP_DIR,
        secrets_dir=SECRETS_DIR,
        health_auth_placeholder=HEALTH_AUTH_PLACEHOLDER,
        upstream_idle_timeout=UPSTREAM_IDLE_TIMEOUT,
        transfer_idle_timeout_seconds=TRANSFER_IDLE_TIMEOUT_SECONDS,
        tcp_keepalive_seconds=TCP_KEEPALIVE_SECONDS,
        orthanc_keep_alive_seconds=ORTHANC_KEEP_ALIVE_SECONDS,
        registration_refused=REGISTRATION_REFUSED,
        orthanc_secrets=ORTHANC_SECRET_FILES,
        envoy_secrets=ENVOY_SECRET_FILES,
        operator_secrets=OPERATOR_SECRET_FILES,
        drain_dir=DRAIN_DIR,
        drain_mount=DRAIN_MOUNT,
        envoy_admin_port=ENVOY_ADMIN_PORT,
        https_port=HTTPS_PORT,
        dicom_tls_port=DICOM_TLS_PORT,
        orthanc_http_port=ORTHANC_HTTP_PORT,
        orthanc_dicom_port=ORTHANC_DICOM_PORT,
        dicom_clients_file=DICOM_CLIENTS_FILE,
        dicom_clients_sds_name=DICOM_CLIENTS_SDS_NAME,
        certificate_uri_pattern=CERTIFICATE_URI_PATTERN,
        # What the host reports under: log groups, metric names, the metrics port (orthweb.shared.telemetry).
        telemetry=telemetry,
        # Who may do what, and how a request must be written (Envoy and Orthanc's filter).
        access=access,
        **extra,
    )


@dataclass(frozen=True)
class RenderedHost:
    """One host as `pulumi up` makes it: its bundle (the S3 object) and its user data."""

    bundle: HostBundle
    # The user-data files by name (deployment.json, bootstrap.sh), and the cloud-config itself.
    user_data_files: dict[str, str]

    @property
    def user_data(self) -> str:
        return self.user_data_files[USER_DATA_NAME]

    @property
    def files(self) -> dict[str, str]:
        """Every file the host gets, by name: the bundle's and user data's."""
        return {**self.bundle.files, **self.user_data_files}


def render_host(ctx: HostAppContext) -> RenderedHost:
    env = _environment()
    bundle = HostBundle({f.name: _render(env, f.template, ctx) for f in HOST_FILES})
    extra = {"bundle": bundle, "deployment": _deployment_info(ctx, bundle)}
    files = {f.name: _render(env, f.template, ctx, **extra) for f in USER_DATA_FILES}
    files[USER_DATA_NAME] = _render(
        env,
        "cloud-init.yaml.j2",
        ctx,
        files=files,
        user_data_files=USER_DATA_FILES,
        bootstrap_path=BOOTSTRAP.path,
        **extra,
    )
    return RenderedHost(bundle, files)


def render_host_files(ctx: HostAppContext) -> dict[str, str]:
    """Every file the host gets, by name, and `cloud-init.yaml`, its user data."""
    return render_host(ctx).files


def _deployment_info(ctx: HostAppContext, bundle: HostBundle) -> dict[str, object]:
    # What an operator on the host needs to know which deployment, and which bundle, this is.
    return {
        "stack": ctx.stack,
        "host_role": ctx.host_role,
        "templates_digest": ctx.templates_digest,
        "bundle": {"sha256": bundle.sha256, "uri": f"s3://{ctx.bundle_bucket}/{bundle.key}"},
        "site_name": ctx.site_name,
        "orthanc_image": ctx.orthanc_image,
        "envoy_image": ctx.envoy_image,
        "orthanc_replicas": ctx.orthanc_replicas,
        "compose_version": ctx.compose_version,
    }


def render_user_data(ctx: HostAppContext) -> str:
    """The `#cloud-config` document: the bootstrap that fetches and checks the host's bundle."""
    return render_host(ctx).user_data


# EC2 refuses user data over 16 KiB (before base64); cloud-init unpacks gzip by itself.
USER_DATA_LIMIT_BYTES: Final = 16 * 1024


def gzip_base64(user_data: str) -> str:
    """User data for `aws.ec2.Instance(user_data_base64=...)`: the cloud-config, gzipped.

    Deterministic (gzip mtime 0), so an unchanged context never shows up as a diff.
    """
    packed = gzip.compress(user_data.encode(), compresslevel=9, mtime=0)
    if len(packed) > USER_DATA_LIMIT_BYTES:
        raise ValueError(f"user data is {len(packed)} bytes gzipped, over EC2's 16 KiB limit")
    return base64.b64encode(packed).decode("ascii")


def render_user_data_gzip_base64(ctx: HostAppContext) -> str:
    return gzip_base64(render_user_data(ctx))
