"""`python -m orthweb restore`: the stack's database and DICOM bucket at one moment, in new resources."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from orthweb.commands.common import add_deployed_stack_arguments, confirmed_on_terminal, stack_live_data
from orthweb.ops.aws import OpsError
from orthweb.ops.restore import LiveData, parse_moment, restore

Confirm = Callable[[str], bool]


def register(subparsers: argparse._SubParsersAction) -> None:  # pyright: ignore[reportPrivateUsage]
    parser = subparsers.add_parser(
        "restore",
        help="restore the database and the DICOM bucket to one moment, into new resources",
        description=(
            "Find the stack's database and DICOM bucket by their orthweb tags, check the moment is inside "
            "their recovery window, then restore the database (RDS point-in-time restore into a new "
            "instance) and the bucket (the object versions current at that moment, into a new bucket) to "
            "that same moment. The live stack is not changed. Uses your normal AWS credentials."
        ),
    )
    add_deployed_stack_arguments(parser)
    parser.add_argument("--to-time", required=True, help="the moment, ISO 8601 with its zone: 2026-12-06T12:30:00Z")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(func=run)


def run(
    args: argparse.Namespace,
    *,
    clients: dict[str, Any] | None = None,
    confirm: Confirm | None = None,
    out: TextIO | None = None,
) -> int:
    """Exit 0 once both are restored; 1, with one line and nothing changed, on any refusal."""
    out = out or sys.stdout
    try:
        moment = parse_moment(args.to_time)
        clients, live = stack_live_data(args, clients)
        refusal = live.window.refusal(moment)
        if refusal is not None:
            raise OpsError(refusal)
        print(describe(live, moment), file=out, flush=True)
        if not args.yes and not (confirm or _ask_here)("Restore them?"):
            raise OpsError("not confirmed")
        started = time.monotonic()
        restored = restore(clients["rds"], clients["s3"], live, moment)
    except OpsError as error:
        ending = "" if error.changed else "; nothing was changed"
        print(f"orthweb restore: {error}{ending}", file=sys.stderr, flush=True)
        return 1
    print(
        f"Restored to {moment.isoformat()} in {time.monotonic() - started:.0f} s: database {restored.db_identifier}, "
        f"bucket {restored.bucket} ({restored.objects} objects). The live stack is unchanged.",
        file=out,
    )
    return 0


def describe(live: LiveData, moment: datetime.datetime) -> str:
    return (
        f"Stack {live.stack}: restore database {live.database['DBInstanceIdentifier']} and bucket {live.bucket} "
        f"to {moment.isoformat()} (recovery window {live.window.earliest.isoformat()} to "
        f"{live.window.latest.isoformat()}) into new resources beside them."
    )


def _ask_here(question: str) -> bool:
    return confirmed_on_terminal(question, non_interactive="restore")
