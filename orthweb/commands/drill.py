"""`python -m orthweb drill`: rehearse a restore into scratch resources, measure it, remove them."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from orthweb.commands.common import add_deployed_stack_arguments, confirmed_on_terminal, stack_live_data
from orthweb.commands.restore import AwsRestoredSite
from orthweb.evaluate import PROJECT_ROOT
from orthweb.ops.aws import OpsError
from orthweb.ops.drill import check_drillable, delete_bucket, drill
from orthweb.ops.restore import LiveData
from orthweb.ops.restore_site import PulumiCli
from orthweb.ops.restored_stack import STACK_NAME_MAX, RestoredStackFile, check_new_stack, restore_data
from orthweb.ops.site_compare import Site, compare_sites
from orthweb.ops.verify.model import Deployment
from orthweb.shared.constants import DEV, PROJECT
from orthweb.shared.restore_point import moment_text

Confirm = Callable[[str], bool]
SCRATCH_SUFFIX = "-drill"
SCRATCH = {f"{PROJECT}:environment": DEV}


class DrillSites(Protocol):
    """The live and the scratch stacks' sites, as the drill reads them."""

    def wait(self, stack: str) -> Deployment: ...
    def live(self, stack: str) -> Deployment: ...
    def site(self, deployment: Deployment) -> Site: ...


def register(subparsers: argparse._SubParsersAction) -> None:  # pyright: ignore[reportPrivateUsage]
    parser = subparsers.add_parser(
        "drill",
        help="rehearse a restore into scratch resources, compare them with the live data, then remove them",
        description=(
            "Restore the stack's database and DICOM bucket to their latest restorable moment into scratch "
            "resources, compare the objects (counts, and a sample byte for byte) with the live bucket, report "
            "the recovery time and the recovery point, then delete the scratch resources. The live stack is "
            "not changed. Uses your normal AWS credentials."
        ),
    )
    add_deployed_stack_arguments(parser)
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(func=run)


def run(
    args: argparse.Namespace,
    *,
    clients: dict[str, Any] | None = None,
    confirm: Confirm | None = None,
    out: TextIO | None = None,
    project: Path = PROJECT_ROOT,
    sites: DrillSites | None = None,
) -> int:
    """Exit 0 when the restored data matches the live data, 1 otherwise or on any refusal."""
    stream: TextIO = out or sys.stdout
    try:
        clients, live = stack_live_data(args, clients)
        check_drillable(live)
        pulumi = PulumiCli.on_path(project, stream)
        into = f"a scratch stack {scratch_stack_name(live.stack)}" if pulumi else "scratch resources"
        print(
            f"Stack {live.stack}: restore database {live.database['DBInstanceIdentifier']} and bucket {live.bucket} to "
            f"{moment_text(live.window.latest)} into {into}, compare, then delete them.",
            file=stream,
            flush=True,
        )
        if not args.yes and not (confirm or _ask_here)("Run the drill?"):
            raise OpsError("not confirmed")
        if pulumi is not None:
            return _drill_through_stack(clients, live, pulumi, sites or AwsRestoredSite(args.region), stream, project)
        print("(no pulumi CLI on PATH: the data alone is restored and compared, no site serves it)", file=stream)
        report = drill(clients["rds"], clients["s3"], live, now=datetime.datetime.now(datetime.UTC))
    except OpsError as error:
        ending = "" if error.changed else "; nothing was changed"
        print(f"orthweb drill: {error}{ending}", file=sys.stderr, flush=True)
        return 1
    print("\n".join(report.lines()), file=stream)
    return 0 if report.passed else 1


def scratch_stack_name(stack: str) -> str:
    return stack[: STACK_NAME_MAX - len(SCRATCH_SUFFIX)].rstrip("-") + SCRATCH_SUFFIX


def _drill_through_stack(
    clients: dict[str, Any], live: LiveData, pulumi: PulumiCli, sites: DrillSites, out: TextIO, project: Path
) -> int:
    """Serve the latest restorable moment from a scratch stack, compare its site with the live one, remove it."""
    moment = live.window.latest.replace(microsecond=0)
    scratch = scratch_stack_name(live.stack)
    source = check_new_stack(project, live.stack, scratch)
    started = time.monotonic()
    # A dev stack whatever the live one is: destroy removes all of it (prod's would keep its data).
    restored = restore_data(clients["s3"], live, moment, source_file=source, new_stack=scratch, settings=SCRATCH)
    try:
        pulumi.deploy(scratch)
        deployment = sites.wait(scratch)
        recovery = time.monotonic() - started
        comparison = compare_sites(sites.site(sites.live(live.stack)), sites.site(deployment), seed=moment.timestamp())
    finally:
        removed = _remove_scratch_stack(pulumi, clients["s3"], restored, out)
    point = (datetime.datetime.now(datetime.UTC) - moment).total_seconds()
    verdict = "passed" if not comparison.different else "FAILED"
    print(
        f"drill {verdict}: the site of {moment_text(moment)} served {recovery:.0f} s after the restore began "
        f"(recovery time); a restore now would lose the last {point:.0f} s (recovery point)",
        file=out,
    )
    print("\n".join(comparison.lines()), file=out)
    # Scratch resources left behind bill until removed: not a clean drill.
    return 0 if not comparison.different and removed else 1


def _remove_scratch_stack(pulumi: PulumiCli, s3: Any, restored: RestoredStackFile, out: TextIO) -> bool:
    """The scratch stack, its adopted bucket (kept by destroy) and its stack file; what stays is named."""
    try:
        pulumi.remove(restored.stack)
        delete_bucket(s3, restored.point.bucket)
        restored.path.unlink(missing_ok=True)
        return True
    except OpsError as error:
        print(
            f"orthweb drill: could not remove the scratch stack {restored.stack} ({error}): run `pulumi destroy "
            f"--stack {restored.stack}`, then delete bucket {restored.point.bucket} and {restored.path.name}",
            file=out,
            flush=True,
        )
        return False


def _ask_here(question: str) -> bool:
    return confirmed_on_terminal(question, non_interactive="run the drill")
