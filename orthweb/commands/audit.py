"""`python -m orthweb audit`: who accessed a study, when, from where, with what result; or which
studies one person or one AE title accessed.

python -m orthweb audit --stack prod --study 1.2.840.113619.2.55.3 --since 90d [--user U] [--ae AE] [--json]
python -m orthweb audit --stack prod --user ana@example.org --since 30d [--json]
python -m orthweb audit --stack prod --ae CT_SCANNER_1 --since 7d [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from orthweb.commands.common import add_deployed_stack_arguments, selected_pulumi_stack, stack_region
from orthweb.ops.audit import (
    Access,
    Runner,
    answer,
    answer_ae,
    answer_person,
    as_json,
    check_inputs,
    cloudwatch_runner,
    since_seconds,
)
from orthweb.ops.aws import OpsError, open_clients
from orthweb.shared import telemetry

COLUMNS = ("time", "who", "source", "action", "status", "bytes", "instance")
# Without --study each row says which study it touched.
COLUMNS_WITH_STUDY = ("time", "who", "source", "action", "status", "bytes", "study", "instance")


def register(subparsers: argparse._SubParsersAction) -> None:  # pyright: ignore[reportPrivateUsage]
    parser = subparsers.add_parser(
        "audit",
        help="who accessed a study: web requests, uploads, DICOM stores and queries",
        description=(
            "Ask CloudWatch Logs Insights, with your AWS credentials, for the stack's audit lines about "
            "one study (Orthanc's, by DICOM UIDs) and the requests behind them (Envoy's: who asked, from "
            "where, with what result), in the stack's audit log group, which keeps them "
            "auditRetentionDays. Prints one row per access; changes nothing."
        ),
    )
    add_deployed_stack_arguments(parser)
    parser.add_argument("--study", help="the study's StudyInstanceUID (without it: every study --user or --ae touched)")
    parser.add_argument("--since", default="90d", help="how far back: a number and d, h or m (default: 90d)")
    parser.add_argument("--user", help="this person's web accesses (sign-in user name or subject)")
    parser.add_argument("--ae", help="what this DICOM AE title did")
    parser.add_argument("--json", action="store_true", help="the rows as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, runner: Runner | None = None, out: TextIO | None = None) -> int:
    """Exit 0 with the accesses on stdout; 1 with one line on stderr otherwise."""
    stream: TextIO = out if out is not None else sys.stdout
    try:
        check_inputs(args.study, user=args.user, ae=args.ae)
        seconds = since_seconds(args.since)
        stack = args.stack or selected_pulumi_stack()
        if runner is None:
            _, opened = open_clients(("logs",), region=stack_region(stack, args.region))
            end = int(time.time())
            runner = cloudwatch_runner(opened["logs"], end - seconds, end)
        groups = audit_groups(stack)
        started = time.monotonic()
        if args.study is not None:
            found = answer(args.study, runner, groups, user=args.user, ae=args.ae)
        elif args.user is not None:
            found = answer_person(args.user, runner, groups)
        else:
            found = answer_ae(args.ae, runner, groups)
        took = time.monotonic() - started
    except OpsError as error:
        print(f"orthweb audit: {error}", file=sys.stderr, flush=True)
        return 1
    if args.json:
        json.dump(as_json(found), stream, indent=2)
        stream.write("\n")
    else:
        stream.write(table(found, COLUMNS if args.study is not None else COLUMNS_WITH_STUDY))
    unattributed = sum(1 for a in found if not a.attributed)
    about = (
        f"to study {args.study}"
        if args.study is not None
        else f"by {args.user or 'AE ' + args.ae} to {len({a.study for a in found if a.study})} studies"
    )
    print(
        f"orthweb audit: {len(found)} accesses {about} in the last {args.since}"
        f" ({unattributed} not attributable to a person or AE title), answered in {took:.1f} s",
        file=sys.stderr,
    )
    return 0


def audit_groups(stack: str) -> dict[str, str]:
    """Where each query runs: both kinds of line are in the audit group."""
    group = telemetry.log_group_name(stack, telemetry.AUDIT_LOGS)
    return {telemetry.ORTHANC_LOGS: group, telemetry.ENVOY_LOGS: group}


def table(accesses: Sequence[Access], columns: Sequence[str] = COLUMNS) -> str:
    rows = [tuple(columns)] + [tuple(str(getattr(a, c)) or "-" for c in columns) for a in accesses]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows)
