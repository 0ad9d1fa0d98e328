"""Crafted requests from people who may read (viewer) or upload (uploader), each trying to make
Orthanc do what their role may not: delete an instance, change the log level, protect a patient,
start an archive job, register a modality. Each class is one way of writing a request that a
parser after Envoy could read differently (percent-encoding, dot segments, method overrides, ...).

Targets, headers and bodies are templates: {instance}, {patient}, {study} name the seeded
resources, {host} the site's address, {internal} the Authorization Envoy gives Orthanc. The token
and cookie classes carry the kind of token or session instead of a role.
"""

from __future__ import annotations

from dataclasses import dataclass

from orthweb.shared.sso import ROLE_HEADER, UPLOADER, VIEWER

BULK_DELETE = '{{"Resources": ["{instance}"]}}'
# A request with no token of its own (it brings another credential).
NO_TOKEN = "no token"


@dataclass(frozen=True)
class Attack:
    klass: str
    role: str  # the token's role (viewer or uploader), or the token kind of the token classes
    method: str
    target: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""

    def request(self, ids: dict[str, str]) -> tuple[str, str, tuple[tuple[str, str], ...], bytes]:
        return (
            self.method,
            self.target.format(**ids),
            tuple((k, v.format(**ids)) for k, v in self.headers),
            self.body.format(**ids).encode(),
        )


def _uploader_post(klass: str, target: str) -> Attack:
    return Attack(klass, UPLOADER, "POST", target, (("Content-Type", "application/json"),), BULK_DELETE)


def _viewer(klass: str, method: str, target: str, *headers: tuple[str, str], body: str = "") -> Attack:
    return Attack(klass, VIEWER, method, target, tuple(headers), body)


STOW = "/dicom-web/studies"
ARCHIVE = "/studies/{study}/archive"
INSTANCE = "/instances/{instance}"

ATTACKS: tuple[Attack, ...] = (
    # An uploader may POST to STOW-RS; Orthanc's web server decodes %2F and %5C into separators.
    _uploader_post("encoded separators", STOW + "/..%2F..%2Ftools%2Fbulk-delete"),
    _uploader_post("encoded separators", STOW + "/..%2f..%2ftools%2fbulk-delete"),
    _uploader_post("encoded separators", STOW + "/..%5C..%5Ctools%5Cbulk-delete"),
    _uploader_post("encoded separators", STOW + "/..%5c..%5Ctools%5cbulk-delete"),
    _uploader_post("encoded separators", STOW + "/1.2.3%2F..%2F..%2F..%2Ftools%2Fbulk-delete"),
    _viewer("encoded separators", "GET", "/studies%2F{study}%2Farchive"),
    _viewer("encoded separators", "GET", "/studies/{study}%5carchive"),
    # Dots percent-encoded, any case: resolved before anyone checks the path, or refused.
    _uploader_post("encoded dots", STOW + "/%2e%2e/%2e%2e/tools/bulk-delete"),
    _uploader_post("encoded dots", STOW + "/%2E%2E/%2E%2E/tools/bulk-delete"),
    _uploader_post("encoded dots", STOW + "/.%2e/%2E./tools/bulk-delete"),
    _viewer("encoded dots", "GET", "/studies/{study}/%2e%2e/{study}/archive"),
    _viewer("encoded dots", "GET", "/studies/{study}/archive%2e"),
    # Double encoding: %25 decodes to '%', which a second decoding would turn into a separator.
    _uploader_post("double encoding", STOW + "/..%252F..%252Ftools%252Fbulk-delete"),
    _uploader_post("double encoding", STOW + "/%252e%252e/%252e%252e/tools/bulk-delete"),
    _viewer("double encoding", "GET", "/studies%252F{study}%252Farchive"),
    _viewer("double encoding", "GET", INSTANCE + "?%255Fmethod=DELETE"),
    # Overlong UTF-8 for '/' and '.': bytes to civetweb, never separators, still refused or unknown.
    _uploader_post("overlong UTF-8", STOW + "/..%c0%af..%c0%aftools%c0%afbulk-delete"),
    _uploader_post("overlong UTF-8", STOW + "/%c0%ae%c0%ae/%c0%ae%c0%ae/tools/bulk-delete"),
    _uploader_post("overlong UTF-8", STOW + "/%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/tools/bulk-delete"),
    _viewer("overlong UTF-8", "GET", "/studies/{study}%c0%afarchive"),
    # Dot segments that only exist once the path is decoded.
    _uploader_post("dot segments after decoding", STOW + "/%2e%2e%2f%2e%2e%2ftools%2fbulk-delete"),
    _uploader_post("dot segments after decoding", "/instances/..%2Ftools%2Fbulk-delete"),
    _uploader_post("dot segments after decoding", STOW + "/..%5c..%5ctools/bulk-delete"),
    _viewer("dot segments after decoding", "GET", "/studies/{study}/x/..%2Farchive"),
    # Path parameters: nobody here strips them; they must not make a refused route look allowed.
    _uploader_post("path parameters", STOW + ";/../../tools/bulk-delete"),
    _uploader_post("path parameters", "/instances;x/../tools/bulk-delete"),
    _viewer("path parameters", "GET", ARCHIVE + ";x"),
    _viewer("path parameters", "GET", INSTANCE + ";_method=DELETE"),
    # Repeated slashes.
    _viewer("repeated slashes", "GET", "//studies//{study}//archive"),
    _uploader_post("repeated slashes", "//tools//bulk-delete"),
    _uploader_post("repeated slashes", "/dicom-web//studies//..//..//tools/bulk-delete"),
    # A trailing slash or dots, which Orthanc's web server drops.
    _viewer("trailing dot or slash", "GET", ARCHIVE + "/"),
    _viewer("trailing dot or slash", "GET", ARCHIVE + "."),
    _viewer("trailing dot or slash", "GET", ARCHIVE + "..."),
    _viewer("trailing dot or slash", "GET", "/studies/{study}./archive"),
    _uploader_post("trailing dot or slash", "/tools/bulk-delete."),
    # Case changes: Orthanc's routes are case-sensitive.
    _viewer("case changes", "GET", "/STUDIES/{study}/ARCHIVE"),
    _viewer("case changes", "GET", "/Studies/{study}/Archive"),
    _uploader_post("case changes", "/TOOLS/BULK-DELETE"),
    _viewer("case changes", "GET", INSTANCE + "?_METHOD=DELETE"),
    # Absolute-form targets.
    _viewer("absolute-form targets", "GET", "https://{host}" + ARCHIVE),
    _viewer("absolute-form targets", "GET", "http://elsewhere.example" + INSTANCE + "?_method=DELETE"),
    _viewer("absolute-form targets", "DELETE", "https://{host}" + INSTANCE),
    Attack(
        "absolute-form targets",
        UPLOADER,
        "POST",
        "https://{host}" + STOW + "/..%2F..%2Ftools%2Fbulk-delete",
        (("Content-Type", "application/json"),),
        BULK_DELETE,
    ),
    # Method override by header: Orthanc honours x-http-method-override on any method.
    _viewer("override header", "GET", INSTANCE, ("X-HTTP-Method-Override", "DELETE")),
    _viewer("override header", "GET", INSTANCE, ("x-http-method-override", "delete")),
    _viewer("override header", "GET", INSTANCE, ("X-Http-Method-Override", "DeLeTe")),
    _viewer("override header", "POST", "/tools/find", ("X-HTTP-Method-Override", "PUT")),
    _viewer("override header", "GET", "/tools/log-level", ("X-HTTP-Method-Override", "PUT"), body="verbose"),
    _viewer("override header", "GET", INSTANCE, ("X-HTTP-Method", "DELETE")),
    _viewer("override header", "GET", INSTANCE, ("X-Method-Override", "DELETE")),
    _viewer("override header", "HEAD", INSTANCE, ("X-HTTP-Method-Override", "DELETE")),
    Attack("override header", UPLOADER, "POST", "/instances", (("X-HTTP-Method-Override", "DELETE"),)),
    Attack("override header", UPLOADER, "GET", INSTANCE, (("X-HTTP-Method-Override", "DELETE"),)),
    # Method override by query argument, in every spelling and encoding.
    _viewer("override argument", "GET", INSTANCE + "?_method=DELETE"),
    _viewer("override argument", "GET", INSTANCE + "?_method=delete"),
    _viewer("override argument", "GET", INSTANCE + "?%5Fmethod=DELETE"),
    _viewer("override argument", "GET", INSTANCE + "?%5fmethod=DELETE"),
    _viewer("override argument", "GET", INSTANCE + "?_%6Dethod=DELETE"),
    _viewer("override argument", "GET", INSTANCE + "?_method=%44ELETE"),
    _viewer("override argument", "GET", INSTANCE + "?x=1%26_method%3DDELETE"),
    _viewer("override argument", "GET", INSTANCE + "?x=1&_method=DELETE"),
    _viewer("override argument", "GET", INSTANCE + "?_MeThOd=DELETE"),
    _viewer("override argument", "GET", INSTANCE + "?_method=DELETE&_method=GET"),
    _viewer("override argument", "GET", "/patients/{patient}/protected?_method=PUT"),
    Attack("override argument", UPLOADER, "GET", INSTANCE + "?_method=DELETE"),
    # Methods nobody here needs, WebDAV's among them.
    _viewer("unusual methods", "OPTIONS", INSTANCE),
    _viewer("unusual methods", "TRACE", "/"),
    _viewer("unusual methods", "PATCH", "/tools/log-level", body="verbose"),
    _viewer("unusual methods", "CONNECT", "{host}"),
    _viewer("unusual methods", "PROPFIND", "/instances"),
    _viewer("unusual methods", "PROPPATCH", INSTANCE),
    _viewer("unusual methods", "MKCOL", "/webdav"),
    _viewer("unusual methods", "LOCK", INSTANCE),
    _viewer("unusual methods", "MOVE", INSTANCE),
    _viewer("unusual methods", "DELETE", INSTANCE),
    Attack("unusual methods", UPLOADER, "PUT", "/tools/log-level", body="verbose"),
    # Bodies on GET: one carrying a whole second request, one chunked.
    _viewer(
        "bodies on GET",
        "GET",
        INSTANCE,
        body="DELETE /instances/{instance} HTTP/1.1\r\nHost: x\r\nAuthorization: {internal}\r\n\r\n",
    ),
    _viewer("bodies on GET", "GET", "/tools/log-level", body="verbose"),
    _viewer("bodies on GET", "GET", INSTANCE, ("Transfer-Encoding", "chunked"), body="6\r\nDELETE\r\n0\r\n\r\n"),
    # Identity headers a client made up, the role header among them, and the internal credential.
    _viewer("spoofed identity", "DELETE", INSTANCE, (ROLE_HEADER, "admin")),
    _viewer("spoofed identity", "DELETE", INSTANCE, ("X-Orthweb-Role", "admin"), (ROLE_HEADER, "admin")),
    _viewer("spoofed identity", "DELETE", INSTANCE, ("x_orthweb_role", "admin")),
    _viewer("spoofed identity", "GET", ARCHIVE, (ROLE_HEADER, "admin")),
    _viewer("spoofed identity", "DELETE", INSTANCE, ("X-Orthweb-User", "admin@example.org"), ("X-Orthweb-Client", "x")),
    _viewer("spoofed identity", "DELETE", INSTANCE, ("Authorization", "{internal}")),
    Attack("spoofed identity", UPLOADER, "DELETE", INSTANCE, ((ROLE_HEADER, "admin"),)),
    Attack("spoofed identity", NO_TOKEN, "DELETE", INSTANCE, (("Authorization", "{internal}"),)),
    Attack("spoofed identity", NO_TOKEN, "DELETE", INSTANCE, (("Authorization", "{internal}"), (ROLE_HEADER, "admin"))),
)

# Tokens that must not pass, each trying to delete (the kinds CognitoLike makes; see the test).
TOKEN_KINDS: tuple[str, ...] = (
    "alg none",
    "HS256 signed with the public key",
    "another pool's key",
    "expired",
    "not yet valid",
    "ID token",
    "another client",
    "no group",
    "groups as a string",
)
TOKEN_ATTACKS: tuple[Attack, ...] = tuple(Attack("tokens", kind, "DELETE", INSTANCE) for kind in TOKEN_KINDS)

# With a viewer's browser session (cookies), each trying to delete.
COOKIE_KINDS: tuple[str, ...] = (
    "access cookie altered",
    "access cookie of an admin",
    "expiry moved on",
    "cookies without their signature",
    "session and the internal credential",
)
COOKIE_ATTACKS: tuple[Attack, ...] = tuple(
    Attack("tampered cookies", kind, "DELETE", INSTANCE) for kind in COOKIE_KINDS
)

# Basic authentication: the single admin trying to register a modality or peer over REST, which is
# refused to everyone (Orthanc would keep it on one replica only), spelled every way above.
MODALITY = '{{"AET": "INTRUDER", "Host": "127.0.0.1", "Port": 104}}'
REGISTRATION_ATTACKS: tuple[Attack, ...] = tuple(
    Attack(klass, "admin", method, target, headers, MODALITY if method in ("PUT", "POST", "PROPPATCH") else "")
    for klass, method, target, headers in (
        ("plain", "PUT", "/modalities/intruder", ()),
        ("plain", "DELETE", "/peers/intruder", ()),
        ("plain", "PUT", "/peers/intruder", ()),
        ("trailing dot or slash", "PUT", "/modalities/intruder/", ()),
        ("trailing dot or slash", "PUT", "/modalities/intruder.", ()),
        ("trailing dot or slash", "PUT", "/modalities/intruder/.", ()),
        ("repeated slashes", "PUT", "//modalities//intruder", ()),
        ("encoded dots", "PUT", "/modalities/%2e/intruder", ()),
        ("dot segments", "PUT", "/tools/../modalities/intruder", ()),
        ("encoded separators", "PUT", "/modalities%2Fintruder", ()),
        ("encoded separators", "PUT", "/tools/..%2fmodalities%2fintruder", ()),
        ("encoded separators", "PUT", "/modalities%5Cintruder", ()),
        ("double encoding", "PUT", "/modalities%252Fintruder", ()),
        ("encoded letters", "PUT", "/%6Dodalities/%69ntruder", ()),
        ("path parameters", "PUT", "/modalities/intruder;x", ()),
        ("case changes", "PUT", "/MODALITIES/intruder", ()),
        ("absolute-form targets", "PUT", "https://{host}/modalities/intruder", ()),
        ("override header", "POST", "/modalities/intruder", (("X-HTTP-Method-Override", "PUT"),)),
        ("override header", "GET", "/peers/intruder", (("X-HTTP-Method-Override", "DELETE"),)),
        ("override argument", "GET", "/peers/intruder?_method=DELETE", ()),
        ("override argument", "GET", "/peers/intruder?%5Fmethod=delete", ()),
        ("unusual methods", "PROPPATCH", "/modalities/intruder", ()),
    )
)
