"""`python -m orthweb restore`: the stack's data at one moment, served by a new stack, verified."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from orthweb.commands import verify as verify_command
from orthweb.commands.common import (
    add_deployed_stack_arguments,
    confirmed_on_terminal,
    stack_live_data,
    stack_region,
)
from orthweb.evaluate import PROJECT_ROOT
from orthweb.ops.aws import OpsError
from orthweb.ops.consistency import ConsistencyReport
from orthweb.ops.restore import LiveData, parse_moment
from orthweb.ops.restore_site import PulumiCli, consistency, finish_commands, site_reader, wait_until_serving
from orthweb.ops.restored_stack import (
    RestoredStackFile,
    check_new_stack,
    read_restored_stack,
    restore_data,
    restored_stack_name,
)
from orthweb.ops.site_compare import Site
from orthweb.ops.verify.model import Deployment
from orthweb.shared.restore_point import moment_text

Confirm = Callable[[str], bool]
# Exit status of a restore whose data is in place but whose stack is not deployed yet.
NOT_DEPLOYED = 3


class RestoredSite(Protocol):
    """The deployed restored stack, as restore checks it."""

    def wait(self, stack: str) -> Deployment: ...
    def verify(self, stack: str) -> int: ...
    def consistency(self, deployment: Deployment) -> ConsistencyReport: ...


def register(subparsers: argparse._SubParsersAction) -> None:  # pyright: ignore[reportPrivateUsage]
    parser = subparsers.add_parser(
        "restore",
        help="serve the database and the DICOM bucket as they were at one moment, from a new stack",
        description=(
            "Find the stack's database and DICOM bucket by their orthweb tags and check the moment is inside "
            "their recovery window. Then copy the bucket's objects as they were at that moment into a new bucket, "
            "write Pulumi.<new stack>.yaml (the stack's settings and restoreFrom: the database and the moment, "
            "and that bucket), and run `pulumi up` for it: RDS restores the database to that moment and the stack "
            "adopts the bucket. Then wait until the new site serves, run verify, and compare the restored index "
            "with the restored bucket. The live stack is not changed. Without the pulumi CLI on PATH it prints "
            "the commands that finish the restore and exits 3. Uses your normal AWS credentials."
        ),
    )
    add_deployed_stack_arguments(parser)
    parser.add_argument("--to-time", help="the moment, ISO 8601 with its zone: 2026-12-06T12:30:00Z")
    parser.add_argument("--into", metavar="STACK", help="the new stack's name (default: <stack>-r<MMDDhhmm>)")
    parser.add_argument(
        "--resume", metavar="STACK", help="finish a restore whose data is in place: deploy, wait, verify, compare"
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(func=run)


def run(
    args: argparse.Namespace,
    *,
    clients: dict[str, Any] | None = None,
    confirm: Confirm | None = None,
    out: TextIO | None = None,
    project: Path = PROJECT_ROOT,
    site: RestoredSite | None = None,
) -> int:
    """0: serving, verified, consistent; 1: refused (one line) or failed; 3: data restored, stack not deployed."""
    stream: TextIO = out or sys.stdout
    try:
        if getattr(args, "resume", None):
            restored = read_restored_stack(project, args.resume)
        else:
            restored = _restore_data(args, clients, confirm, stream, project)
        pulumi = PulumiCli.on_path(project, stream)
        if pulumi is None or restored.secrets_to_set:
            return _print_finish(args, project, restored, stream, pulumi is None)
        pulumi.deploy(restored.stack)
        return _check_site(restored, site or AwsRestoredSite(getattr(args, "region", None)), stream)
    except OpsError as error:
        ending = "" if error.changed else "; nothing was changed"
        print(f"orthweb restore: {error}{ending}", file=sys.stderr, flush=True)
        return 1


def _restore_data(
    args: argparse.Namespace, clients: dict[str, Any] | None, confirm: Confirm | None, out: TextIO, project: Path
) -> RestoredStackFile:
    if not args.to_time:
        raise OpsError("give --to-time (the moment to restore to), or --resume STACK to finish a restore")
    moment = parse_moment(args.to_time)
    clients, live = stack_live_data(args, clients)
    live.window.admit(moment)
    new_stack = getattr(args, "into", None) or restored_stack_name(live.stack, moment)
    source_file = check_new_stack(project, live.stack, new_stack)
    print(describe(live, moment, new_stack), file=out, flush=True)
    if not args.yes and not (confirm or _ask_here)("Restore them?"):
        raise OpsError("not confirmed")
    started = time.monotonic()
    restored = restore_data(clients["s3"], live, moment, source_file=source_file, new_stack=new_stack)
    print(
        f"Storage restored in {time.monotonic() - started:.0f} s: {restored.objects} objects into bucket "
        f"{restored.point.bucket}; wrote {restored.path.name}.",
        file=out,
        flush=True,
    )
    return restored


def describe(live: LiveData, moment: datetime.datetime, new_stack: str) -> str:
    return (
        f"Stack {live.stack}: restore database {live.database['DBInstanceIdentifier']} and bucket {live.bucket} "
        f"to {moment_text(moment)} (recovery window {moment_text(live.window.earliest)} to "
        f"{moment_text(live.window.latest)}) into a new stack {new_stack}, beside them."
    )


def _print_finish(
    args: argparse.Namespace, project: Path, restored: RestoredStackFile, out: TextIO, no_cli: bool
) -> int:
    why = (
        "the pulumi CLI is not on PATH"
        if no_cli
        else f"{', '.join(restored.secrets_to_set)} must be set again (each stack encrypts its own secrets)"
    )
    region = f" --region {args.region}" if getattr(args, "region", None) else ""
    resume = f"python -m orthweb restore --resume {restored.stack}{region}"
    lines = [f"The restored stack {restored.stack} is not deployed yet: {why}. To finish the restore, run:"]
    lines += [f"  {command}" for command in finish_commands(project, restored.stack, restored.secrets_to_set, resume)]
    print("\n".join(lines), file=out, flush=True)
    return NOT_DEPLOYED


def _check_site(restored: RestoredStackFile, site: RestoredSite, out: TextIO) -> int:
    print(f"Waiting until the site of {restored.stack} serves ...", file=out, flush=True)
    deployment = site.wait(restored.stack)
    verified = site.verify(restored.stack)
    report = site.consistency(deployment)
    print("\n".join(report.lines()), file=out, flush=True)
    moment = moment_text(restored.point.moment)
    if verified == 0 and report.consistent:
        print(f"Stack {restored.stack} serves the data of {moment}: verified, index and storage agree.", file=out)
        return 0
    failed = "verify failed" if verified != 0 else "index and storage differ"
    print(f"Stack {restored.stack} serves the data of {moment}, but {failed}: see above.", file=out)
    return 1


class AwsRestoredSite:
    """The restored stack on AWS: found by its tags (as verify finds any stack)."""

    def __init__(self, region: str | None) -> None:
        self.region = region

    def _stack(self, stack: str) -> Any:
        from orthweb.ops.verify.aws import AwsStack, connect

        clients = connect(region=stack_region(stack, self.region))
        return clients, AwsStack(clients, stack)

    def wait(self, stack: str) -> Deployment:
        return wait_until_serving(self._stack(stack)[1].locate)

    def verify(self, stack: str) -> int:
        arguments = verify_command.default_arguments(stack=stack, region=self.region)
        return verify_command.run(arguments)

    def consistency(self, deployment: Deployment) -> ConsistencyReport:
        clients, _ = self._stack(deployment.stack)
        return consistency(deployment, clients.s3)

    def live(self, stack: str) -> Deployment:
        return self._stack(stack)[1].locate()

    def site(self, deployment: Deployment) -> Site:
        return site_reader(deployment)


def _ask_here(question: str) -> bool:
    return confirmed_on_terminal(question, non_interactive="restore")
