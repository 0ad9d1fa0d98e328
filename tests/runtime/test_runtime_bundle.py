"""A host installs exactly the bundle its user data names, or nothing.

The real bootstrap.sh (taken from the rendered cloud-config) fetches the bundle from S3 (moto) with
the AWS CLI, as the instance role does on a host, and checks its SHA-256 against the digest in user
data before unpacking anything. The bucket is not trusted: whoever can write to it must still not
be able to change what a host runs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from orthweb.host.bundle import HostBundle
from orthweb.host.layout import HOST_FILES
from orthweb.host.render import RenderedHost, render_host
from tests.runtime.conftest import runtime_context
from tools.harness.aws import FetchSecrets
from tools.harness.bundle import BundleLocation, bootstrap_script, installed_files, publish, run_bootstrap


def _host(stack: str) -> RenderedHost:
    # moto keeps its state for the whole session: each case is a stack (bucket, key) of its own.
    return render_host(runtime_context(replicas=1, stack=stack))


def test_the_session_host_runs_the_bundle_its_user_data_names(rendered: dict[str, str]) -> None:
    installed = HostBundle({f.name: rendered[f.name] for f in HOST_FILES})
    named = json.loads(rendered["deployment.json"])["bundle"]
    assert named["sha256"] == installed.sha256
    assert named["uri"].endswith(f"/{installed.key}")


def test_a_bundle_that_is_not_the_named_one_is_refused_and_nothing_installed(
    secrets_source: FetchSecrets, tmp_path: Path
) -> None:
    host = _host("tampered")
    location = BundleLocation.parse(bootstrap_script(host.user_data))
    # Someone with write access to the bucket puts other files at the key the host will read.
    files = dict(host.bundle.files)
    files["envoy.yaml"] = files["envoy.yaml"].replace("127.0.0.1", "0.0.0.0")
    forged = HostBundle(files)
    assert forged.sha256 != host.bundle.sha256
    publish(secrets_source.aws, location, forged.archive)
    done = run_bootstrap(host.user_data, secrets_source.aws, tmp_path / "root")
    assert done.returncode == 1
    assert f"REFUSED s3://{location.bucket}/{location.key}" in done.stderr
    assert forged.sha256 in done.stderr and host.bundle.sha256 in done.stderr
    assert installed_files(tmp_path / "root") == {}
    assert not [p for p in (tmp_path / "root").rglob("*") if p.is_file()]


def test_a_missing_bundle_fails_the_boot_after_its_wait_naming_the_object(
    secrets_source: FetchSecrets, tmp_path: Path
) -> None:
    host = _host("missing")
    location = BundleLocation.parse(bootstrap_script(host.user_data))
    # The bucket exists (another bundle is in it); this host's object does not.
    other = _host("missing-other")
    publish(secrets_source.aws, dataclasses.replace(location, key=other.bundle.key), other.bundle.archive)
    done = run_bootstrap(host.user_data, secrets_source.aws, tmp_path / "root")
    assert done.returncode == 1
    assert f"cannot fetch s3://{location.bucket}/{location.key} after 3s" in done.stderr
    assert "retrying" in done.stderr, "a missing object is tried again before the boot fails"
    assert installed_files(tmp_path / "root") == {}


@pytest.mark.parametrize("role", ["primary", "member"])
def test_the_bundle_installs_every_host_file_with_its_mode(
    secrets_source: FetchSecrets, tmp_path: Path, role: str
) -> None:
    host = render_host(runtime_context(replicas=1, stack=f"modes-{role}", host_role=role))
    location = BundleLocation.parse(bootstrap_script(host.user_data))
    publish(secrets_source.aws, location, host.bundle.archive)
    done = run_bootstrap(host.user_data, secrets_source.aws, tmp_path / "root")
    assert done.returncode == 0, done.stderr
    assert f"installed bundle {host.bundle.sha256}" in done.stderr
    assert installed_files(tmp_path / "root") == dict(host.bundle.files)
    for file in HOST_FILES:
        mode = (tmp_path / "root" / file.path.lstrip("/")).stat().st_mode & 0o7777
        assert oct(mode) == oct(int(file.mode, 8)), file.name
