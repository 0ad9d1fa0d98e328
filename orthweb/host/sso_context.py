"""The sign-in part of a host's render context (authentication: sso): where Cognito is, and the
facts envoy-sso.yaml.j2 needs. No secret: the site client's id and secret, the cookie key and the
site's address reach the host through Secrets Manager (placeholders filled at boot)."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import Final

from orthweb.shared import sso

# Filled by fetch-secrets.sh from the site client's secret (values checked there first).
CLIENT_ID_PLACEHOLDER: Final = "__ORTHWEB_SSO_CLIENT_ID__"
SITE_ADDRESS_PLACEHOLDER: Final = "__ORTHWEB_SSO_SITE_ADDRESS__"
LOGOUT_URI_PLACEHOLDER: Final = "__ORTHWEB_SSO_LOGOUT_URI__"
# Filled from the Orthanc credentials: what Envoy sends Orthanc once it has checked the user.
ORTHANC_AUTHORIZATION_PLACEHOLDER: Final = "__ORTHWEB_ORTHANC_AUTHORIZATION__"
# The secret files (Envoy SDS, JSON) fetch-secrets.sh writes, and where Envoy's container sees them.
CLIENT_SECRET_FILE: Final = "sso-client-secret.json"
COOKIE_KEY_FILE: Final = "sso-cookie-key.json"
SECRETS_MOUNT: Final = "/run/secrets"
# Where Envoy's container sees the Amazon Trust Services roots (the host file of the same name):
# the only CAs it trusts for Cognito, so no expired CA of a system bundle reaches its certificate
# expiry gauge.
TRUSTED_CA_FILE: Final = "/etc/orthweb/amazon-trust-services.pem"

_CLIENT_ID_RE: Final = re.compile(r"^[A-Za-z0-9_+]{1,128}$")
_ARN_RE: Final = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_POOL_ID_RE: Final = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d_[0-9A-Za-z]+$")


@dataclass(frozen=True)
class Server:
    """A TLS server Envoy calls (Cognito's domain, or its key endpoint)."""

    host: str
    port: int

    @property
    def san_type(self) -> str:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return "DNS"
        return "IP_ADDRESS"


def _server_of(url: str) -> Server:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"SsoHostContext: {url!r} is not an https URL")
    return Server(parts.hostname, parts.port or 443)


@dataclass(frozen=True, kw_only=True)
class SsoHostContext:
    issuer: str
    jwks_uri: str
    authorization_endpoint: str
    token_endpoint: str
    logout_endpoint: str
    machine_client_id: str
    # The site client's id and secret, the cookie key and the site's address (read at boot).
    site_client_secret_arn: str
    trusted_ca_file: str = TRUSTED_CA_FILE

    @classmethod
    def for_cognito(
        cls, *, region: str, user_pool_id: str, domain: str, machine_client_id: str, site_client_secret_arn: str
    ) -> SsoHostContext:
        if not _POOL_ID_RE.fullmatch(user_pool_id):
            raise ValueError(f"SsoHostContext.user_pool_id: invalid value {user_pool_id!r}")
        return cls(
            issuer=sso.issuer(region, user_pool_id),
            jwks_uri=sso.jwks_uri(region, user_pool_id),
            authorization_endpoint=sso.authorization_endpoint(domain),
            token_endpoint=sso.token_endpoint(domain),
            logout_endpoint=sso.logout_endpoint(domain),
            machine_client_id=machine_client_id,
            site_client_secret_arn=site_client_secret_arn,
        )

    def __post_init__(self) -> None:
        for url in (self.issuer, self.jwks_uri, self.authorization_endpoint, self.token_endpoint, self.logout_endpoint):
            _server_of(url)
        if not _CLIENT_ID_RE.fullmatch(self.machine_client_id):
            raise ValueError(f"SsoHostContext.machine_client_id: invalid value {self.machine_client_id!r}")
        if not _ARN_RE.fullmatch(self.site_client_secret_arn):
            raise ValueError(f"SsoHostContext.site_client_secret_arn: invalid value {self.site_client_secret_arn!r}")

    # -- servers Envoy calls ----------------------------------------------------------------------
    @property
    def token_server(self) -> Server:
        return _server_of(self.token_endpoint)

    @property
    def jwks_server(self) -> Server:
        return _server_of(self.jwks_uri)

    @property
    def logout_url(self) -> str:
        """Cognito's logout URL with the site's client and address (filled in at boot)."""
        return f"{self.logout_endpoint}?client_id={CLIENT_ID_PLACEHOLDER}&logout_uri={LOGOUT_URI_PLACEHOLDER}"

    # -- facts the template reads (from orthweb.shared.sso, defined once there) -----------------------
    payload_key = "token"
    client_id_placeholder = CLIENT_ID_PLACEHOLDER
    site_address_placeholder = SITE_ADDRESS_PLACEHOLDER
    logout_uri_placeholder = LOGOUT_URI_PLACEHOLDER
    orthanc_authorization_placeholder = ORTHANC_AUTHORIZATION_PLACEHOLDER
    client_secret_file_name = CLIENT_SECRET_FILE
    cookie_key_file_name = COOKIE_KEY_FILE
    client_secret_file = f"{SECRETS_MOUNT}/{CLIENT_SECRET_FILE}"
    cookie_key_file = f"{SECRETS_MOUNT}/{COOKIE_KEY_FILE}"
    callback_path = sso.CALLBACK_PATH
    sign_out_path = sso.SIGN_OUT_PATH
    end_session_path = sso.END_SESSION_PATH
    cookie_prefix = sso.COOKIE_PREFIX
    cookie_names = sso.COOKIE_NAMES
    identity_headers = sso.IDENTITY_HEADERS
    user_header = sso.USER_HEADER
    client_header = sso.CLIENT_HEADER
    role_header = sso.ROLE_HEADER
    user_scopes = sso.USER_SCOPES
    resource_server = sso.RESOURCE_SERVER

    @staticmethod
    def scope(role: str) -> str:
        return sso.scope(role)
