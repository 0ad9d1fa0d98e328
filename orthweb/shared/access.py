"""Who may do what over HTTPS, stated once and enforced twice.

Envoy enforces it first (envoy.yaml.j2: how a request must be written; envoy-sso.yaml.j2: the
roles, as RBAC), and Orthanc enforces it again in its Lua `IncomingHttpRequestFilter`
(orthweb-filter.lua.j2), which sees the path after Orthanc's web server has decoded it and the
method after Orthanc has applied any method override. Both are rendered from this module; the
tests judge what reached Orthanc with `allows` below.

Pure module (orthweb.shared.constants and orthweb.shared.sso only): every layer may import it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Final

from orthweb.shared.constants import DICOMWEB_ROOT
from orthweb.shared.sso import ADMIN, ROLES, UPLOADER, VIEWER

# --- how every request must be written (both authentication modes) ----------------------------

# What Orthanc's REST API and the viewers use; anything else is refused before a role is looked at.
METHODS: Final = ("GET", "HEAD", "POST", "PUT", "DELETE")
READ_METHODS: Final = ("GET", "HEAD")
# Orthanc 1.12 takes the method from `X-HTTP-Method-Override` on any request and from a `_method`
# query argument on a GET (orthanc-server/orthanc, OrthancFramework/Sources/HttpServer/HttpServer.cpp,
# ExtractMethod); the two other headers are what other web frameworks honour.
OVERRIDE_HEADERS: Final = ("x-http-method-override", "x-http-method", "x-method-override")
OVERRIDE_ARGUMENT: Final = "_method"
# How many times Envoy percent-decodes a query while looking for the override argument (civetweb
# decodes once; Orthanc up to 1.9.7 decoded once more).
QUERY_DECODINGS: Final = 3


# --- routes as Orthanc matches them ---------------------------------------------------------------

ANY_SEGMENT: Final = "{id}"
UID_SEGMENT: Final = "{uid}"
_SEGMENT_REGEX: Final = {ANY_SEGMENT: "[^/]+", UID_SEGMENT: "[0-9.]+"}
# Route words need no escaping in RE2 (and none in YAML's double quotes); Lua's "-" needs "%-".
_WORD: Final = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Route:
    """A route of Orthanc's REST API: '/'-separated segments, each a literal, alternatives
    ('archive|media') or a placeholder; a trailing slash matches too (Orthanc ignores it)."""

    path: str

    def __post_init__(self) -> None:
        for segment in self.segments:
            if segment not in _SEGMENT_REGEX and not all(_WORD.match(x) for x in segment.split("|")):
                raise ValueError(f"Route {self.path!r}: {segment!r} is neither a placeholder nor route words")

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))

    def regex(self) -> str:
        """RE2 (Envoy) and Python `re`, anchored."""
        parts = []
        for segment in self.segments:
            if segment in _SEGMENT_REGEX:
                parts.append(_SEGMENT_REGEX[segment])
            else:
                parts.append(f"(?:{segment})" if "|" in segment else segment)
        return "^/" + "/".join(parts) + "/?$"

    def lua_patterns(self) -> tuple[str, ...]:
        """Lua patterns have no alternation: one anchored pattern per combination."""
        choices = [
            (_SEGMENT_REGEX[s],) if s in _SEGMENT_REGEX else tuple(x.replace("-", "%-") for x in s.split("|"))
            for s in self.segments
        ]
        return tuple("^/" + "/".join(parts) + "/?$" for parts in itertools.product(*choices))

    def matches(self, path: str) -> bool:
        return re.match(self.regex(), path) is not None


# --- the GET routes of Orthanc 1.12 and of the plugins the image loads that change state ------


@dataclass(frozen=True)
class SideEffect:
    """A GET route that changes what the server keeps, found by reading the source named."""

    route: Route
    effect: str
    source: str
    # Whether viewers and uploaders may reach it, and why.
    readers_may: bool
    why: str


_ORTHANC = "orthanc-server/orthanc 1.12, OrthancServer/Sources"
STATE_CHANGING_GETS: Final = (
    SideEffect(
        Route("patients|studies|series/{id}/archive|media"),
        "submits a job (kept in the replica's job history, where it pushes out older jobs) that writes a ZIP",
        f"{_ORTHANC}/OrthancRestApi/OrthancRestArchive.cpp, CreateSingleGet",
        readers_may=False,
        why="a job is server state; admins download archives",
    ),
    SideEffect(
        Route("tools/create-archive|create-media|create-media-extended"),
        "submits a job for the resources named in the query, as above",
        f"{_ORTHANC}/OrthancRestApi/OrthancRestArchive.cpp, CreateBatchGet",
        readers_may=False,
        why="as above",
    ),
    SideEffect(
        Route("studies/{id}/ohif-dicom-json"),
        "stores an 'OHIF' metadata entry on every instance of the study (and deletes outdated ones)",
        "orthanc-server/orthanc-ohif 1.2 and later, Sources/Plugin.cpp, GetOhifStudy and CacheAsMetadata",
        readers_may=False,
        why="the OHIF viewer here reads DICOMweb and never asks for it",
    ),
    SideEffect(
        Route("dicom-web/studies/{uid}/metadata"),
        "stores each series' DICOMweb metadata as attachment 4301 (EnableMetadataCache)",
        "orthanc-server/orthanc-dicomweb 1.22, Plugin/WadoRs.cpp, RetrieveSeriesMetadataInternalWithCache",
        readers_may=True,
        why="what OHIF and Stone read; computed from the stored instances and replaced when they change",
    ),
    SideEffect(
        Route("dicom-web/studies/{uid}/series/{uid}/metadata"),
        "as above, for one series",
        "orthanc-server/orthanc-dicomweb 1.22, Plugin/WadoRs.cpp, RetrieveSeriesMetadataInternalWithCache",
        readers_may=True,
        why="as above",
    ),
    SideEffect(
        Route("instances/{id}/tags"),
        "for an instance stored by Orthanc 1.9.0 or older, stores its pixel data offset (metadata) and the "
        "file up to the pixel data (attachment); other reads of such instances do too",
        f"{_ORTHANC}/ServerContext.cpp, ReadDicomAsJson and LookupOrReconstructMetadata",
        readers_may=True,
        why="derived from the stored file, computed once; this stack never ran Orthanc 1.9",
    ),
)
# What the read grant leaves out.
READERS_REFUSED: Final = tuple(s.route for s in STATE_CHANGING_GETS if not s.readers_may)


# --- the role table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """Methods on routes (None: any path), minus the routes in `refused`."""

    name: str
    methods: tuple[str, ...]
    routes: tuple[Route, ...] | None
    refused: tuple[Route, ...] = ()

    def allows(self, method: str, path: str) -> bool:
        if method not in self.methods:
            return False
        if self.routes is not None and not any(r.matches(path) for r in self.routes):
            return False
        return not any(r.matches(path) for r in self.refused)


READ: Final = Grant("read", READ_METHODS, None, READERS_REFUSED)
# Read-only questions Orthanc Explorer 2 asks with POST.
QUESTIONS: Final = Grant(
    "questions", ("POST",), tuple(Route(p) for p in ("tools/find", "tools/count-resources", "tools/lookup"))
)
# A DICOM file, or STOW-RS (all studies, or one study by its UID).
_STUDIES = DICOMWEB_ROOT.strip("/") + "/studies"
UPLOAD: Final = Grant("upload", ("POST",), (Route("instances"), Route(_STUDIES), Route(f"{_STUDIES}/{UID_SEGMENT}")))
EVERYTHING: Final = Grant("everything", METHODS, None)
GRANTS: Final = (READ, QUESTIONS, UPLOAD, EVERYTHING)
# Each role's grants; each role may do all a role before it may (the role header names one role).
ROLE_GRANTS: Final = {VIEWER: (READ, QUESTIONS), UPLOADER: (READ, QUESTIONS, UPLOAD), ADMIN: (EVERYTHING,)}
# The role Envoy names for a token holding several: the one that may do most.
ROLES_BY_PRIVILEGE: Final = (ADMIN, UPLOADER, VIEWER)

# Refused to everyone, the single admin of basic mode included: Orthanc keeps a modality or peer
# registered over REST per server identifier, so it would reach one replica only.
REGISTRATIONS: Final = Grant("registrations", ("PUT", "DELETE"), (Route("modalities|peers/{id}"),))


def holders(grant: Grant) -> tuple[str, ...]:
    """The roles whose grants include this one."""
    return tuple(role for role in ROLES if grant in ROLE_GRANTS[role])


def allows(role: str | None, method: str, path: str) -> bool:
    """Whether the role may `method` on Orthanc's decoded `path` (role None: basic mode's admin)."""
    if REGISTRATIONS.allows(method, path):
        return False
    if role is None:
        return method in METHODS
    return any(grant.allows(method, path) for grant in ROLE_GRANTS.get(role, ()))
