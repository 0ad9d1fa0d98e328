"""`orthweb plan`: evaluate the stack offline and show what `pulumi up` would create."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from orthweb.commands.common import add_stack_arguments, evaluate_or_report, write_json
from orthweb.commands.plan_settings import DEFAULT_REGION, settings_rows
from orthweb.evaluate import Evaluation, redact
from orthweb.evaluate.host_files import write_host_files
from orthweb.ops.cost import CostEstimate, estimate


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "plan",
        help="evaluate the stack offline: inventory, settings and outputs",
        description="Run the Pulumi program against the mock engine (no AWS account needed) and "
        "print what it would create.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also write each host's files (cloud-init, envoy.yaml, orthanc.json, ...) under DIR/<role>/",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    evaluation = evaluate_or_report(args)
    if evaluation is None:
        return 2
    for warning in evaluation.warnings:
        print(f"orthweb: warning: {warning}", file=sys.stderr)
    if args.out is not None:
        try:
            written = write_host_files(evaluation, args.out)
        except OSError as error:
            print(f"orthweb: cannot write under --out {args.out}: {error.strerror}", file=sys.stderr)
            return 2
        print(f"wrote {len(written)} host files under {args.out}/", file=sys.stderr)
    cost = _cost(evaluation)
    if args.json:
        document = evaluation.to_json()
        document["cost"] = cost.to_json()
        document["errors"] = []
        write_json(document)
    else:
        sys.stdout.write(format_inventory(evaluation))
        sys.stdout.write("\nMonthly cost estimate\n")
        sys.stdout.write(cost.format_table() + "\n")
    return 0


def _cost(evaluation: Evaluation) -> CostEstimate:
    """Priced in the stack's region; items the price table lacks make the total "incomplete"."""
    return estimate(evaluation.resources, evaluation.config.region or DEFAULT_REGION)


def format_inventory(evaluation: Evaluation) -> str:
    lines: list[str] = []
    custom = [r for r in evaluation.resources if r.custom]
    components = [r for r in evaluation.resources if not r.custom]
    lines.append(f"orthweb stack '{evaluation.stack}': {len(custom)} resources in {len(components)} components\n")
    lines.append("Settings")
    rows = settings_rows(evaluation)
    width = max(len(label) for label, _, _ in rows)
    lines.extend(f"  {label:<{width}}  {value}" for label, value, _ in rows)
    lines.append("")
    lines.append("Resources by type")
    counts = Counter(r.type for r in custom)
    for token, count in sorted(counts.items()):
        lines.append(f"  {count:>3}  {token}")
    lines.append("")
    lines.append("Outputs (values computed offline are examples)")
    outputs = redact(evaluation.outputs)
    for name, value in outputs.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        lines.append(f"  {name}: {shown}")
    return "\n".join(lines) + "\n"
