"""Single sign-on facts shared by the config checks, the Cognito component, the host files and the
operator tools: the roles, what each may do, the paths Envoy answers itself, Cognito's URL shapes.

Pure module (only orthweb.shared.constants): every layer may import it.
"""

from __future__ import annotations

import re
from typing import Final

from orthweb.shared.constants import PROJECT

# Config `authentication`: Orthanc's own generated credential, or sign-in through Amazon Cognito.
BASIC: Final = "basic"
SSO: Final = "sso"
AUTHENTICATION_MODES: Final = (BASIC, SSO)

# Roles: a Cognito group for people, a resource-server scope for the machine client.
VIEWER: Final = "viewer"
UPLOADER: Final = "uploader"
ADMIN: Final = "admin"
ROLES: Final = (VIEWER, UPLOADER, ADMIN)
# What each role may do is the role table of orthweb.shared.access; these describe it in Cognito.
ROLE_DESCRIPTIONS: Final = {
    VIEWER: "read: GET and HEAD (no ZIP archives), QIDO-RS, WADO-RS, WADO-URI, the viewers, find and lookup",
    UPLOADER: "viewer rights plus STOW-RS and POST /instances",
    ADMIN: "everything Orthanc's REST API offers but registering modalities or peers",
}

# The machine client's resource server: a token for role R carries the scope "orthweb/R".
RESOURCE_SERVER: Final = PROJECT
# What the site asks Cognito for when a person signs in (groups arrive in the access token).
USER_SCOPES: Final = ("openid", "email", "profile")

# Paths Envoy answers itself (never forwarded to Orthanc).
CALLBACK_PATH: Final = "/orthweb/sso/callback"
SIGN_OUT_PATH: Final = "/orthweb/sso/sign-out"
# Envoy sends a signed-out browser here with its own query; this path answers with Cognito's
# literal logout URL (Envoy would append '?' to a logout URL that already has a query).
END_SESSION_PATH: Final = "/orthweb/sso/end-session"
# `__Host-` cookies are refused by browsers unless Secure, Path=/ and without Domain.
COOKIE_PREFIX: Final = "__Host-orthweb-sso-"
COOKIE_NAMES: Final = {
    "bearer_token": f"{COOKIE_PREFIX}access",
    "oauth_hmac": f"{COOKIE_PREFIX}hmac",
    "oauth_expires": f"{COOKIE_PREFIX}expires",
    "id_token": f"{COOKIE_PREFIX}id",
    "refresh_token": f"{COOKIE_PREFIX}refresh",
    "oauth_nonce": f"{COOKIE_PREFIX}nonce",
    "code_verifier": f"{COOKIE_PREFIX}verifier",
}
# Headers Envoy sets from a verified token; any copy a client sends is removed first. Orthanc's
# Lua filter decides by the role header (orthweb.shared.access).
USER_HEADER: Final = "x-orthweb-user"
CLIENT_HEADER: Final = "x-orthweb-client"
ROLE_HEADER: Final = "x-orthweb-role"
IDENTITY_HEADERS: Final = (USER_HEADER, CLIENT_HEADER, ROLE_HEADER)

# Token lifetimes: an access token for an hour, a browser session renewed for a working day.
ACCESS_TOKEN_MINUTES: Final = 60
REFRESH_TOKEN_HOURS: Final = 12

# Secrets Manager secrets (role tags): what the hosts read, and what `orthweb token` reads.
SITE_CLIENT_ROLE: Final = "sso-site-client"
MACHINE_CLIENT_ROLE: Final = "sso-machine-client"

# Cognito prefix domains (CreateUserPoolDomain): 1-63 lower-case letters, digits and hyphens,
# no hyphen first or last; Cognito refuses any that contains one of its reserved words.
DOMAIN_PREFIX_PATTERN: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_WORDS: Final = ("aws", "amazon", "cognito")
# The generated prefix: "orthweb-<stack>-" and this many random lower-case letters and digits.
PREFIX_SUFFIX_LENGTH: Final = 8


def scope(role: str) -> str:
    """The machine client's scope for a role, as it appears in the token's `scope` claim."""
    return f"{RESOURCE_SERVER}/{role}"


def reserved_word_in(text: str) -> str | None:
    """The first Cognito reserved word that `text` contains, if any."""
    return next((word for word in RESERVED_WORDS if word in text), None)


def domain_prefix_reason(prefix: str) -> str | None:
    """Why Cognito would refuse this prefix domain, or None."""
    if not DOMAIN_PREFIX_PATTERN.fullmatch(prefix):
        return "1 to 63 lower-case letters, digits and hyphens, not starting or ending with a hyphen"
    word = reserved_word_in(prefix)
    if word is not None:
        return f"a prefix without Cognito's reserved words (aws, amazon, cognito); it contains '{word}'"
    return None


def default_prefix_start(stack: str) -> str:
    """The generated prefix before its random suffix (the suffix keeps it globally unique)."""
    return f"{PROJECT}-{stack}-"


# --- Cognito's addresses --------------------------------------------------------------------


def cognito_domain(prefix: str, region: str) -> str:
    return f"{prefix}.auth.{region}.amazoncognito.com"


def issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def jwks_uri(region: str, user_pool_id: str) -> str:
    return f"{issuer(region, user_pool_id)}/.well-known/jwks.json"


def authorization_endpoint(domain: str) -> str:
    return f"https://{domain}/oauth2/authorize"


def token_endpoint(domain: str) -> str:
    return f"https://{domain}/oauth2/token"


def logout_endpoint(domain: str) -> str:
    return f"https://{domain}/logout"


# --- the site's addresses that Cognito must know exactly -------------------------------------


def site_url(site_address: str) -> str:
    """Where Cognito sends a signed-out browser (the app client's one logout URL)."""
    return f"https://{site_address}/"


def callback_url(site_address: str) -> str:
    """Where Cognito sends a browser with its code (the app client's one callback URL)."""
    return f"https://{site_address}{CALLBACK_PATH}"
