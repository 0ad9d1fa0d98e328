"""What Orthanc 1.12 makes of a request that reached it: the method and path its Lua
`IncomingHttpRequestFilter` sees and its REST API runs. The runtime tests judge what a recording
upstream received with it (`orthweb.shared.access.allows` on the result), and check it on Debian's Orthanc
where that one behaves the same.

Read from the sources of the image's web server and Orthanc:
- civetweb 1.14 (src/civetweb.c, handle_request): the target is split at its first '?'; with
  `decode_url` (default yes) every %XX of the path is decoded (mg_url_decode, '+' kept), the
  query string is form-decoded in place ('+' is a space), the path is cut at a NUL and then
  remove_dot_segments turns '\\' into '/', applies RFC 3986 section 5.2.4, drops every run of
  dots before a '/' or at the end, and merges '//'. (civetweb 1.15, Debian's, decodes the query
  only with `decode_query_string`, which Orthanc does not set.)
- Orthanc 1.12 (OrthancFramework/Sources/HttpServer/HttpServer.cpp, InternalCallback and
  ExtractMethod; HttpToolbox.cpp, ParseGetArguments): header names are lower-cased; the method is
  the value of `x-http-method-override` on any request, else on a GET the first `_method`
  argument (arguments split at '&', then at the first '='), upper-cased, PUT or DELETE only (any
  other value is answered 400); without an override GET, POST, PUT and DELETE are themselves;
  HEAD, OPTIONS and PROPFIND reach the filter as GET and PROPPATCH, LOCK, UNLOCK and MKCOL as PUT
  (WebDAV, answered 404 without buckets); anything else is answered 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_AS_GET = ("HEAD", "OPTIONS", "PROPFIND")
_AS_PUT = ("PROPPATCH", "LOCK", "UNLOCK", "MKCOL")
_OVERRIDE_HEADER = "x-http-method-override"
_OVERRIDE_ARGUMENT = "_method"


@dataclass(frozen=True)
class OrthancView:
    """The method the filter sees and the REST API runs, and the decoded path."""

    method: str
    uri: str


def percent_decode(text: str, *, form: bool) -> str:
    """civetweb's mg_url_decode on bytes: %XX with two hex digits; '+' a space only in forms."""
    raw = text.encode("latin-1")
    out = bytearray()
    i = 0
    while i < len(raw):
        pair = raw[i + 1 : i + 3]
        if raw[i : i + 1] == b"%" and len(pair) == 2 and all(chr(c) in "0123456789abcdefABCDEF" for c in pair):
            out.append(int(pair, 16))
            i += 3
            continue
        out.append(ord(" ") if form and raw[i : i + 1] == b"+" else raw[i])
        i += 1
    return out.decode("latin-1")


def _rfc3986_remove_dot_segments(path: str) -> str:
    out: list[str] = []
    rest = path
    while rest:
        if rest.startswith("../"):
            rest = rest[3:]
        elif rest.startswith("./") or rest.startswith("/./"):
            rest = rest[2:]
        elif rest == "/.":
            rest = "/"
        elif rest.startswith("/../") or rest == "/..":
            rest = "/" + rest[4:] if rest.startswith("/../") else "/"
            if out:
                out.pop()
        elif rest in (".", ".."):
            rest = ""
        else:
            start = 1 if rest.startswith("/") else 0
            end = rest.find("/", start)
            end = len(rest) if end < 0 else end
            out.append(rest[:end])
            rest = rest[end:]
    return "".join(out)


def remove_dot_segments(path: str) -> str:
    """civetweb 1.14's remove_dot_segments: backslashes, RFC 3986 dot segments, then dot runs
    before '/' or at the end dropped and '//' merged."""
    merged = _rfc3986_remove_dot_segments(path.replace("\\", "/"))
    out: list[str] = []
    i = 0
    while i < len(merged):
        char = merged[i]
        if char == ".":
            end = i
            while end < len(merged) and merged[end] == ".":
                end += 1
            if end == len(merged) or merged[end] == "/":
                if merged[end : end + 1] == "/" and out and out[-1] == "/":
                    out.pop()
                i = end
                continue
            out.append(merged[i:end])
            i = end
        elif char == "/":
            out.append("/")
            while i < len(merged) and merged[i] == "/":
                i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _override(method: str, headers: Mapping[str, str], query: str) -> str | None:
    """Orthanc's ExtractMethod: the faked method ('' when none), or None when Orthanc answers 400."""
    lowered = {name.lower(): value for name, value in headers.items()}
    value = lowered.get(_OVERRIDE_HEADER)
    if value is None and method == "GET":
        for argument in query.split("&") if query else ():
            name, _, given = argument.partition("=")
            if name == _OVERRIDE_ARGUMENT:
                value = given
                break
    if not value:
        return ""
    return value.upper() if value.upper() in ("PUT", "DELETE") else None


def orthanc_view(method: str, target: str, headers: Mapping[str, str]) -> OrthancView | None:
    """What Orthanc 1.12 runs for `method target` with these headers; None when it runs nothing
    (answered 400 before any handler)."""
    path, _, query = target.partition("?")
    decoded = percent_decode(path, form=False).split("\0", 1)[0]
    uri = remove_dot_segments(decoded)
    faked = _override(method, headers, percent_decode(query, form=True))
    if faked is None:
        return None
    if faked:
        return OrthancView(faked, uri)
    if method in ("GET", "POST", "PUT", "DELETE"):
        return OrthancView(method, uri)
    if method in _AS_GET:
        return OrthancView("GET", uri)
    if method in _AS_PUT:
        return OrthancView("PUT", uri)
    return None
