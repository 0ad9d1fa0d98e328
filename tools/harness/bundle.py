"""A host's first boot as user data does it: the real bootstrap.sh fetches the host's bundle from S3
(moto on 127.0.0.1), checks its SHA-256 and unpacks it under a directory standing for /.

`boot_from_bundle` puts the bundle where `pulumi up` puts it (the stack's bundle bucket, SSE-KMS),
takes bootstrap.sh out of the rendered cloud-config, runs it, and returns the files it unpacked:
what a `Stack` then runs is what a host would have installed, not the renderer's output.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from orthweb.host.layout import BOOTSTRAP, HOST_FILES, USER_DATA_FILES
from orthweb.host.render import RenderedHost
from orthweb.shared.constants import USER_DATA_NAME
from tools.harness.aws import LocalAws, aws_cli
from tools.harness.processes import HarnessError, run_script

BOOTSTRAP_TIMEOUT = 120
_ASSIGNMENT = re.compile(r"^(REGION|BUNDLE_BUCKET|BUNDLE_KEY)=(\S+)$", re.M)


@dataclass(frozen=True)
class BundleLocation:
    """Where a rendered bootstrap.sh fetches its bundle."""

    region: str
    bucket: str
    key: str

    @classmethod
    def parse(cls, script: str) -> BundleLocation:
        found = dict(_ASSIGNMENT.findall(script))
        if len(found) != 3:
            raise HarnessError(f"{BOOTSTRAP.name}: REGION, BUNDLE_BUCKET and BUNDLE_KEY not all found")
        return cls(found["REGION"], found["BUNDLE_BUCKET"], found["BUNDLE_KEY"])


def bootstrap_script(user_data: str) -> str:
    """bootstrap.sh as cloud-init writes it: from the cloud-config's write_files."""
    for entry in yaml.safe_load(user_data).get("write_files", []):
        if entry["path"] == BOOTSTRAP.path:
            return str(entry["content"])
    raise HarnessError(f"the user data writes no {BOOTSTRAP.path}")


def publish(aws: LocalAws, location: BundleLocation, archive: bytes) -> None:
    """What `pulumi up` does: the bucket (once), then the object, encrypted with a KMS key."""
    s3 = aws.client("s3", location.region)
    if location.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=location.bucket, CreateBucketConfiguration={"LocationConstraint": location.region})
    key_id = aws.client("kms", location.region).create_key(Description="stack key")["KeyMetadata"]["KeyId"]
    s3.put_object(
        Bucket=location.bucket,
        Key=location.key,
        Body=archive,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key_id,
        BucketKeyEnabled=True,
    )


def run_bootstrap(
    user_data: str, aws: LocalAws, root: Path, *, extra_env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The rendered bootstrap.sh with `--unpack-only` (no systemd here), / standing at `root`."""
    aws_cli()  # a missing AWS CLI is a set-up problem: say so, not a failure of the script
    root.mkdir(parents=True, exist_ok=True)
    script = root.parent / f"{root.name}-{BOOTSTRAP.name}"
    script.write_text(bootstrap_script(user_data))
    env = aws.script_env(
        {"ORTHWEB_ROOT": str(root), "ORTHWEB_BUNDLE_WAIT_SECONDS": "3", "ORTHWEB_BUNDLE_POLL_SECONDS": "1"}
        | dict(extra_env or {})
    )
    return run_script(script, ["--unpack-only"], env=env, timeout=BOOTSTRAP_TIMEOUT, name=BOOTSTRAP.name)


def installed_files(root: Path) -> dict[str, str]:
    """The host files under `root`, by name (as render_host_files names them)."""
    paths = {f.name: root / f.path.lstrip("/") for f in HOST_FILES}
    return {name: path.read_text() for name, path in paths.items() if path.is_file()}


def boot_from_bundle(host: RenderedHost, aws: LocalAws, root: Path) -> dict[str, str]:
    """Publish the host's bundle, run its bootstrap, and return every file the host then has."""
    location = BundleLocation.parse(bootstrap_script(host.user_data))
    publish(aws, location, host.bundle.archive)
    done = run_bootstrap(host.user_data, aws, root)
    if done.returncode != 0:
        raise HarnessError(f"{BOOTSTRAP.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    files = installed_files(root)
    missing = sorted({f.name for f in HOST_FILES} - set(files))
    if missing:
        raise HarnessError(f"{BOOTSTRAP.name} succeeded but did not install {missing}")
    # What user data wrote itself (deployment.json, bootstrap.sh) comes from the cloud-config.
    user_data_files = {f.name: host.user_data_files[f.name] for f in USER_DATA_FILES}
    return {**files, **user_data_files, USER_DATA_NAME: host.user_data}
