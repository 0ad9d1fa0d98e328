"""`python -m orthweb drill`: rehearse a restore into scratch resources, measure it, remove them."""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable
from typing import Any, TextIO

from orthweb.commands.common import add_deployed_stack_arguments, confirmed_on_terminal, stack_live_data
from orthweb.ops.aws import OpsError
from orthweb.ops.drill import check_drillable, drill

Confirm = Callable[[str], bool]


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
) -> int:
    """Exit 0 when the restored data matches the live data, 1 otherwise or on any refusal."""
    out = out or sys.stdout
    try:
        clients, live = stack_live_data(args, clients)
        check_drillable(live)
        print(
            f"Stack {live.stack}: restore database {live.database['DBInstanceIdentifier']} and bucket {live.bucket} to "
            f"{live.window.latest.isoformat()} into scratch resources, compare, then delete them.",
            file=out,
            flush=True,
        )
        if not args.yes and not (confirm or _ask_here)("Run the drill?"):
            raise OpsError("not confirmed")
        report = drill(clients["rds"], clients["s3"], live, now=datetime.datetime.now(datetime.UTC))
    except OpsError as error:
        ending = "" if error.changed else "; nothing was changed"
        print(f"orthweb drill: {error}{ending}", file=sys.stderr, flush=True)
        return 1
    print("\n".join(report.lines()), file=out)
    return 0 if report.passed else 1


def _ask_here(question: str) -> bool:
    return confirmed_on_terminal(question, non_interactive="run the drill")
