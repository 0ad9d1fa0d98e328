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
from orthweb.evaluate.changes import Change, changes, counts
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
    parser.add_argument(
        "--diff",
        nargs="*",
        metavar="STACK|KEY=VALUE",
        help="instead of the inventory, what `pulumi up` would add, replace, update and delete going to this "
        "plan from: another stack (--diff prod), this stack with other values (--diff topology=failover), or, "
        "alone, this stack's file as it is (what your --set values change)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    evaluation = evaluate_or_report(args)
    if evaluation is None:
        return 2
    for warning in evaluation.warnings:
        print(f"orthweb: warning: {warning}", file=sys.stderr)
    if args.diff is not None:
        return _diff(args, evaluation)
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


def _diff(args: argparse.Namespace, after: Evaluation) -> int:
    """Evaluate what `--diff` names and print the changes from it to this plan."""
    tokens: list[str] = args.diff
    other_stack = tokens[0] if tokens and "=" not in tokens[0] else args.stack
    other_sets = [token for token in tokens if "=" in token]
    before_args = argparse.Namespace(stack=other_stack, set=other_sets, set_file=[], json=args.json)
    before = evaluate_or_report(before_args)
    if before is None:
        return 2
    found = changes(before, after)
    described = {"from": _described(other_stack, other_sets), "to": _described(args.stack, args.set)}
    if args.json:
        write_json({**described, "changes": [c.to_json() for c in found], "counts": counts(found), "errors": []})
    else:
        sys.stdout.write(format_changes(described["from"], described["to"], found))
    return 0


def _described(stack: str, sets: list[str]) -> str:
    return f"stack {stack}" + (f" with {' '.join(f'--set {pair}' for pair in sets)}" if sets else " as its file says")


# How each action is marked, as `pulumi preview` marks it.
_MARKS = {"add": "+", "replace": "+-", "update": "~", "delete": "-"}


def format_changes(before: str, after: str, found: list[Change]) -> str:
    total = counts(found)
    summary = ", ".join(f"{count} to {action}" for action, count in total.items())
    lines = [f"From {before} to {after}: {summary}" if found else f"From {before} to {after}: no changes"]
    type_width = max((len(change.type) for change in found), default=0)
    for change in found:
        because = f"  ({', '.join(change.because)})" if change.because else ""
        lines.append(
            f"  {_MARKS[change.action]:<2} {change.action:<7}  {change.type:<{type_width}}  {change.name}{because}"
        )
    return "\n".join(lines) + "\n"


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
