"""The role table (orthweb.shared.access) and the model of how Orthanc 1.12 reads a request
(tools.harness.orthanc_view), checked on their own; the runtime tests use both as oracles."""

from __future__ import annotations

import re

import pytest

from orthweb.shared import access, sso
from tools.harness.orthanc_view import orthanc_view, remove_dot_segments

STUDY = "0123abcd-0123abcd-0123abcd-0123abcd-0123abcd"


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        (sso.VIEWER, "GET", f"/studies/{STUDY}", True),
        (sso.VIEWER, "HEAD", "/system", True),
        (sso.VIEWER, "GET", f"/studies/{STUDY}/archive", False),
        (sso.VIEWER, "GET", f"/series/{STUDY}/media/", False),
        (sso.VIEWER, "GET", "/tools/create-media-extended", False),
        (sso.VIEWER, "GET", f"/studies/{STUDY}/ohif-dicom-json", False),
        (sso.VIEWER, "GET", "/dicom-web/studies/1.2.3/metadata", True),
        (sso.VIEWER, "POST", "/tools/find", True),
        (sso.VIEWER, "POST", "/tools/find/", True),
        (sso.VIEWER, "POST", "/tools/bulk-delete", False),
        (sso.VIEWER, "POST", "/instances", False),
        (sso.VIEWER, "DELETE", f"/studies/{STUDY}", False),
        (sso.VIEWER, "PUT", "/tools/log-level", False),
        (sso.UPLOADER, "POST", "/instances", True),
        (sso.UPLOADER, "POST", "/dicom-web/studies", True),
        (sso.UPLOADER, "POST", "/dicom-web/studies/1.2.840.10008.1", True),
        (sso.UPLOADER, "POST", "/dicom-web/studies/../tools/bulk-delete", False),
        (sso.UPLOADER, "POST", "/dicom-web/studies/1.2/series", False),
        (sso.UPLOADER, "GET", f"/studies/{STUDY}/archive", False),
        (sso.UPLOADER, "DELETE", f"/instances/{STUDY}", False),
        (sso.ADMIN, "DELETE", f"/instances/{STUDY}", True),
        (sso.ADMIN, "GET", f"/studies/{STUDY}/archive", True),
        (sso.ADMIN, "PUT", "/tools/log-level", True),
        (sso.ADMIN, "PUT", "/modalities/ct", False),
        (sso.ADMIN, "DELETE", "/peers/remote/", False),
        (sso.ADMIN, "TRACE", "/", False),
        (None, "PUT", "/modalities/ct", False),
        (None, "DELETE", f"/studies/{STUDY}", True),
        ("superadmin", "GET", "/system", False),
    ],
)
def test_the_role_table(role: str | None, method: str, path: str, allowed: bool) -> None:
    assert access.allows(role, method, path) is allowed


def test_each_role_may_do_all_the_roles_below_it_may() -> None:
    """Envoy names one role per request, the one that may do most: the grants must nest."""
    viewer, uploader, admin = (set(access.ROLE_GRANTS[r]) for r in (sso.VIEWER, sso.UPLOADER, sso.ADMIN))
    assert viewer <= uploader
    assert admin == {access.EVERYTHING} and access.EVERYTHING.routes is None and not access.EVERYTHING.refused
    assert set(access.EVERYTHING.methods) == set(access.METHODS)
    assert access.ROLES_BY_PRIVILEGE == (sso.ADMIN, sso.UPLOADER, sso.VIEWER)


def test_every_grant_has_holders_and_every_role_grants() -> None:
    assert all(access.holders(grant) for grant in access.GRANTS)
    assert set(access.ROLE_GRANTS) == set(sso.ROLES)


@pytest.mark.parametrize("route", [r for g in access.GRANTS for r in (g.routes or ()) + g.refused])
def test_each_route_renders_alike_for_envoy_and_for_lua(route: access.Route) -> None:
    """RE2 (Envoy, Python) and the Lua patterns match the same paths: every spelling of the route,
    with and without a trailing slash, and none of a few near misses."""
    regex = re.compile(route.regex())
    for pattern in route.lua_patterns():
        literal = re.sub(r"%(.)", r"\1", pattern).replace("[^/]+", STUDY).replace("[0-9.]+", "1.2.3")
        path = literal.removeprefix("^").removesuffix("/?$")
        assert regex.match(path) and regex.match(path + "/") and route.matches(path), (pattern, path)
        for miss in (path + "x", path + "/x", "/x" + path, path.upper()):
            assert not regex.match(miss), (route, miss)
    assert len(route.lua_patterns()) == len({*route.lua_patterns()})


def test_a_route_refuses_words_that_would_need_escaping() -> None:
    with pytest.raises(ValueError, match="neither a placeholder nor route words"):
        access.Route("tools/find.json")


def test_every_state_changing_get_names_its_source_and_why() -> None:
    for effect in access.STATE_CHANGING_GETS:
        assert re.match(r"^orthanc-server/orthanc[a-z0-9-]* \d", effect.source), effect
        assert effect.effect and effect.why
    assert set(access.READERS_REFUSED) <= set(access.READ.refused)


@pytest.mark.parametrize(
    ("method", "target", "headers", "seen"),
    [
        ("POST", "/dicom-web/studies/..%2F..%2Ftools%2Fbulk-delete", {}, ("POST", "/tools/bulk-delete")),
        ("POST", "/dicom-web/studies/..%5c..%5Ctools%5cbulk-delete", {}, ("POST", "/tools/bulk-delete")),
        ("GET", "/instances/x?_method=delete", {}, ("DELETE", "/instances/x")),
        ("GET", "/instances/x?%5Fmethod=DELETE", {}, ("DELETE", "/instances/x")),
        ("GET", "/instances/x?y=1%26_method%3DPUT", {}, ("PUT", "/instances/x")),
        ("POST", "/instances/x?_method=DELETE", {}, ("POST", "/instances/x")),
        ("POST", "/tools/find", {"X-HTTP-Method-Override": "put"}, ("PUT", "/tools/find")),
        ("HEAD", "/system", {"x-http-method-override": "DELETE"}, ("DELETE", "/system")),
        ("GET", "/x?_method=GET", {}, None),
        ("TRACE", "/", {}, None),
        ("PROPFIND", "/x", {}, ("GET", "/x")),
        ("LOCK", "/x", {}, ("PUT", "/x")),
        ("GET", "/a/b%00/../c", {}, ("GET", "/a/b")),
        ("GET", "/studies/x/archive...", {}, ("GET", "/studies/x/archive")),
    ],
)
def test_how_orthanc_reads_a_request(
    method: str, target: str, headers: dict[str, str], seen: tuple[str, str] | None
) -> None:
    view = orthanc_view(method, target, headers)
    assert (None if view is None else (view.method, view.uri)) == seen


@pytest.mark.parametrize(
    ("path", "clean"),
    [
        ("/a/b/../c", "/a/c"),
        ("/a/./b/", "/a/b/"),
        ("/a/../../b", "/b"),
        ("/a\\..\\b", "/b"),
        ("//a///b", "/a/b"),
        ("/a/x./b", "/a/x/b"),
        ("/a/.../b", "/a/b"),
        ("/a/b..", "/a/b"),
        ("/a.b/c", "/a.b/c"),
        ("/..", "/"),
    ],
)
def test_civetweb_removes_dot_segments_like_this(path: str, clean: str) -> None:
    assert remove_dot_segments(path) == clean
