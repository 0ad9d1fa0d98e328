"""From restored data to a serving site: `pulumi up` of the restored stack, waiting until its site
answers, and the consistency of its index (read through the site's REST API) with its bucket.

The Pulumi CLI runs as a child process in the project directory; every line it prints passes
through the redaction point before it is shown.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from orthweb.ops.aws import OpsError
from orthweb.ops.consistency import ConsistencyReport, compare, indexed_files, stored_keys
from orthweb.ops.site_compare import Site
from orthweb.ops.verify.model import CheckFailed, Deployment
from orthweb.ops.verify.site import SiteClient
from orthweb.shared import redaction
from orthweb.shared.constants import HTTPS_PORT

# How long a new stack's site may take to serve after `pulumi up` returns (hosts boot, pull images).
SERVE_TIMEOUT_SECONDS = 20 * 60
SERVE_POLL_SECONDS = 15


@dataclass(frozen=True)
class PulumiCli:
    """The Pulumi CLI, run in the project directory with its output shown through `redaction.scrub`."""

    executable: str
    project: Path
    out: TextIO

    @classmethod
    def on_path(cls, project: Path, out: TextIO) -> PulumiCli | None:
        found = shutil.which("pulumi")
        return cls(found, project, out) if found else None

    def run(self, *arguments: str) -> int:
        command = [self.executable, *arguments, "--non-interactive"]
        print(f"$ pulumi {' '.join(arguments)}", file=self.out, flush=True)
        try:
            child = subprocess.Popen(
                command, cwd=self.project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        except OSError as error:
            raise OpsError(f"could not start pulumi: {error.strerror}") from None
        assert child.stdout is not None
        for line in child.stdout:
            print(redaction.scrub(line.rstrip("\n")), file=self.out, flush=True)
        return child.wait()

    def remove(self, stack: str) -> None:
        """Destroy the stack's resources, then the stack itself (its adopted bucket stays: see delete_bucket)."""
        for arguments in (("destroy", "--yes", "--stack", stack), ("stack", "rm", "--yes", stack)):
            status = self.run(*arguments)
            if status != 0:
                raise OpsError(f"pulumi {' '.join(arguments)} exited with status {status}", changed=True)

    def deploy(self, stack: str) -> None:
        """Select (creating it if new) and update the stack; OpsError naming the step that failed."""
        for arguments in (("stack", "select", "--create", stack), ("up", "--yes", "--stack", stack)):
            status = self.run(*arguments)
            if status != 0:
                raise OpsError(f"pulumi {' '.join(arguments)} exited with status {status}", changed=True)


def finish_commands(project: Path, stack: str, secrets_to_set: tuple[str, ...], resume: str) -> list[str]:
    """What to run to finish a restore by hand: deploy the stack, then let restore check it."""
    return [
        f"cd {project}",
        f"pulumi stack select --create {stack}",
        *(f"pulumi config set --secret --stack {stack} {key} <value>" for key in secrets_to_set),
        f"pulumi up --stack {stack}",
        resume,
    ]


# Finds the deployed stack's site, bucket and credential (verify's AwsStack.locate).
Locate = Callable[[], Deployment]


def wait_until_serving(
    locate: Locate,
    *,
    timeout: float = SERVE_TIMEOUT_SECONDS,
    poll: float = SERVE_POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    status_of: Callable[[Deployment], int] | None = None,
) -> Deployment:
    """Until the site answers Orthanc's REST API with the stack's credential; OpsError after `timeout`."""
    deadline = clock() + timeout
    last = "not found yet"
    while True:
        try:
            deployment = locate()
            status = (status_of or _system_status)(deployment)
            if status == 200:
                return deployment
            last = f"GET /system answered {status}"
        except CheckFailed as error:
            last = error.detail
        except OSError as error:
            last = str(error)
        if clock() >= deadline:
            raise OpsError(f"the restored site did not serve within {timeout:.0f} s ({last})", changed=True)
        sleep(poll)


def _system_status(deployment: Deployment) -> int:
    return _site(deployment).request("GET", "/system", credential=deployment.admin).status


def consistency(deployment: Deployment, s3: Any) -> ConsistencyReport:
    """The restored index (through the site, with the stack's credential) against its bucket."""
    return compare(indexed_files(site_reader(deployment).get_json), stored_keys(s3, deployment.dicom_bucket))


def site_reader(deployment: Deployment) -> Site:
    """The deployed site's REST API with the stack's credential: JSON, or a file's bytes (None: 404)."""
    client = _site(deployment)

    def get(path: str) -> bytes | None:
        response = client.request("GET", path, credential=deployment.admin)
        if response.status == 404:
            return None
        if response.status != 200:
            raise OpsError(f"the site of {deployment.stack} answered GET {path} with {response.status}", changed=True)
        return response.body

    def get_json(path: str) -> Any:
        body = get(path)
        if body is None:
            raise OpsError(f"the site of {deployment.stack} has no {path}", changed=True)
        return json.loads(body)

    return Site(get_json=get_json, get_bytes=get)


def _site(deployment: Deployment) -> SiteClient:
    return SiteClient(deployment.site_address, deployment.site_address, HTTPS_PORT, deployment.certificate_pem)
