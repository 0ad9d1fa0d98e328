"""The files each host will get, read back from what the program hands to EC2 and S3: the user
data, and the bundle object it names.

Reading them from the recorded user data and bundle (rather than rendering the templates again)
shows an admin exactly what `pulumi up` would send, byte for byte.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from orthweb.evaluate.model import Evaluation, RecordedResource
from orthweb.host.bundle import unpack
from orthweb.host.layout import HOST_FILES, USER_DATA_FILES
from orthweb.shared.constants import ROLE_TAG, USER_DATA_NAME

# The same names as orthweb.host.render.render_host_files uses.
_NAMES = {file.path: file.name for file in (*HOST_FILES, *USER_DATA_FILES)}
_MODES = {file.name: file.mode for file in HOST_FILES}
INSTANCE = "aws:ec2/instance:Instance"
BUNDLE_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
# The scale-out topology's hosts are launched from this; its user data is base64 like userDataBase64.
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


@dataclass(frozen=True)
class HostFileOnDisk:
    path: str  # where cloud-init writes it on the host
    permissions: str
    content: str


def user_data_text(instance: RecordedResource) -> str:
    """The cloud-config of an EC2 instance or a launch template (both get it gzipped, in base64)."""
    if instance.type == LAUNCH_TEMPLATE:
        return gzip.decompress(base64.b64decode(instance.inputs["userData"])).decode()
    if "userDataBase64" in instance.inputs:
        return gzip.decompress(base64.b64decode(instance.inputs["userDataBase64"])).decode()
    return str(instance.inputs.get("userData", ""))


def host_role(resource: RecordedResource) -> str:
    """The role tag a host gets: an instance's own, or what a launch template puts on its instances."""
    if resource.type == LAUNCH_TEMPLATE:
        instance_tags = next(s for s in resource.inputs["tagSpecifications"] if s["resourceType"] == "instance")
        return str(instance_tags["tags"][ROLE_TAG])
    return str(resource.inputs["tags"][ROLE_TAG])


def host_files(evaluation: Evaluation) -> dict[str, dict[str, HostFileOnDisk]]:
    """Role ("primary"/"secondary", or "member" of the scale-out group) -> file name -> file:
    the bundle's, user data's, and the cloud-config itself."""
    bundles = {str(o.inputs["key"]): o for o in evaluation.of_type(BUNDLE_OBJECT)}
    hosts: dict[str, dict[str, HostFileOnDisk]] = {}
    for instance in [*evaluation.of_type(INSTANCE), *evaluation.of_type(LAUNCH_TEMPLATE)]:
        text = user_data_text(instance)
        files = {USER_DATA_NAME: HostFileOnDisk("/var/lib/cloud/instance/user-data.txt", "0600", text)}
        for entry in (yaml.safe_load(text) or {}).get("write_files", []):
            name = _NAMES.get(entry["path"], PurePosixPath(entry["path"]).name)
            files[name] = HostFileOnDisk(entry["path"], str(entry.get("permissions", "0644")), entry.get("content", ""))
        key = bundle_key_of(files)
        if key not in bundles:
            raise ValueError(f"{instance.name}: its user data names bundle {key!r}, which the stack does not create")
        hosts[host_role(instance)] = {**bundle_files(bundles[key]), **files}
    return hosts


def bundle_key_of(files: dict[str, HostFileOnDisk]) -> str:
    """The bundle a host's user data names (deployment.json's `bundle.uri`), as an object key."""
    uri = str(json.loads(files["deployment.json"].content)["bundle"]["uri"])
    return uri.removeprefix("s3://").split("/", 1)[1]


def bundle_files(bundle: RecordedResource) -> dict[str, HostFileOnDisk]:
    """The files of a recorded bundle object, where the host puts them."""
    paths = {file.name: file.path for file in HOST_FILES}
    contents = unpack(base64.b64decode(str(bundle.inputs["contentBase64"])))
    return {name: HostFileOnDisk(paths[name], _MODES[name], text) for name, text in contents.items()}


def write_host_files(evaluation: Evaluation, out: Path) -> list[Path]:
    written: list[Path] = []
    for role, files in host_files(evaluation).items():
        folder = out / role
        folder.mkdir(parents=True, exist_ok=True)
        index = [f"{'file':<28} {'mode':<5} path on the host"]
        for name, file in files.items():
            (folder / name).write_text(file.content, encoding="utf-8")
            written.append(folder / name)
            index.append(f"{name:<28} {file.permissions:<5} {file.path}")
        index.append("")
        index.append("User data writes deployment.json and bootstrap.sh; bootstrap.sh fetches the bundle")
        index.append("(every other file), checks its SHA-256 and unpacks it.")
        index.append("Secrets are not in these files: the host fetches them from Secrets Manager at boot")
        index.append("(see fetch-secrets.sh) into root-only files under /etc/orthweb/secrets.")
        (folder / "FILES.txt").write_text("\n".join(index) + "\n", encoding="utf-8")
    return written
