"""`python -m orthweb failover`: move the site address to the other host once it serves."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from orthweb.commands.common import add_deployed_stack_arguments, selected_pulumi_stack, stack_region
from orthweb.ops.aws import OpsError, connect
from orthweb.ops.failover import Failover, FailoverPlan, NoStandby
from orthweb.ops.progress import Reporter
from orthweb.shared.constants import HOST_ROLES

Confirm = Callable[[FailoverPlan], bool]


def register(subparsers: argparse._SubParsersAction) -> None:  # pyright: ignore[reportPrivateUsage]
    parser = subparsers.add_parser(
        "failover",
        help="move the site's Elastic IP to the other host after checking it serves",
        description=(
            "Find the stack's hosts and Elastic IP by their orthweb tags, start the target host if it "
            "is stopped, wait until Orthanc answers through Envoy on it, move the Elastic IP and "
            "check the site answers. Uses your normal AWS credentials."
        ),
    )
    add_deployed_stack_arguments(parser)
    parser.add_argument(
        "--to",
        choices=HOST_ROLES,
        help="host to move the site to (default: the one not holding the Elastic IP)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(func=run)


def run(
    args: argparse.Namespace,
    *,
    failover: Failover | None = None,
    confirm: Confirm | None = None,
    out: TextIO | None = None,
) -> int:
    """Exit 0 when the site answers from the target, 1 on any refusal or failure."""
    out = out or sys.stdout
    try:
        stack = args.stack or selected_pulumi_stack()
        if failover is None:
            clients = connect(region=stack_region(stack, args.region))
            failover = Failover(clients, stack, reporter=Reporter(out))
        plan = failover.plan(args.to)
        print(plan.summary(), file=out, flush=True)
        if not args.yes and not (confirm or _ask)(plan):
            raise OpsError("not confirmed")
        result = failover.execute(plan)
    except NoStandby as error:
        # Nothing to do rather than something that went wrong: one line says why.
        print(f"orthweb failover: {error}", file=sys.stderr, flush=True)
        return 1
    except OpsError as error:
        print(f"orthweb failover: {error.user_message()}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("orthweb failover: interrupted; check the hosts and the Elastic IP", file=sys.stderr)
        return 130
    total = sum(timing.seconds for timing in result.timings)
    print(f"Failover done in {total:.2f} s; the site is served by {result.target.describe()}.", file=out)
    for timing in result.timings:
        print(f"  {timing.seconds:8.2f} s  {timing.title}", file=out)
    return 0


def _ask(plan: FailoverPlan) -> bool:
    if not sys.stdin.isatty():
        raise OpsError("no terminal to confirm on; pass --yes to fail over non-interactively")
    answer = input(f"Fail over to the {plan.target.role} host? [y/N] ")
    return answer.strip().lower() in ("y", "yes")
