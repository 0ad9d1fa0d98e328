"""`orthweb check`: checkov on the plan of the stack the program really builds, offline."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import Any, TextIO

from orthweb.commands.common import add_stack_arguments, evaluate_or_report
from orthweb.ops.compliance.scan import CheckovFailed, CheckovMissing, Report, find_checkov, scan
from orthweb.ops.compliance.skips import SKIPS_FILE, SkipsFileError
from orthweb.ops.compliance.types import UnmappedTypeError
from orthweb.shared import redaction


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="scan the stack's resources with checkov (compliance as code)",
        description="Evaluate the stack offline, convert its resources to a Terraform plan, run checkov "
        f"on it and apply the reviewed exceptions in {SKIPS_FILE.name}. Exit 0 when nothing fails, 1 when "
        "a check fails or a skip matches nothing, 2 when the scan cannot run.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    stream: TextIO = out if out is not None else sys.stdout
    try:
        find_checkov()  # before the evaluation: a missing prerequisite is said at once
    except CheckovMissing as error:
        print(f"orthweb check: {error}", file=sys.stderr)
        return 2
    evaluation = evaluate_or_report(args)
    if evaluation is None:
        return 2
    try:
        report = scan(evaluation)
    except (CheckovMissing, CheckovFailed, SkipsFileError, UnmappedTypeError) as error:
        print(f"orthweb check: {error}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(redaction.scrub_document(report.summary()), stream, indent=2)
        stream.write("\n")
    else:
        stream.write(format_report(report))
    for check_id, resource in report.unused_skips:
        print(
            f"orthweb check: {SKIPS_FILE.name} skips {check_id} for {resource}, which did not fail: "
            "remove or correct the entry",
            file=sys.stderr,
        )
    return 0 if report.clean else 1


def _resource(address: str, pulumi_name: str | None) -> str:
    return f"{address} ({pulumi_name})" if pulumi_name else address


def format_report(report: Report) -> str:
    lines = [
        f"checkov {report.checkov_version} on stack '{report.stack}' ({report.environment}), "
        f"{report.resource_count} resources: {len(report.passed)} passed, {len(report.failed)} failed, "
        f"{len(report.skipped)} skipped",
        "",
    ]
    if report.failed:
        lines.append("FAILED")
        for result in report.failed:
            lines.append(f"  {result.id:<12} {_resource(result.resource, result.pulumi_name)}")
            lines.append(f"  {'':<12} {result.name}")
        lines.append("")
    if report.skipped:
        lines.append(f"Skipped (reviewed in orthweb/ops/compliance/{SKIPS_FILE.name})")
        for skipped in report.skipped:
            result = skipped.result
            lines.append(f"  {result.id:<12} {_resource(result.resource, result.pulumi_name)}")
            lines.append(f"  {'':<12} {result.name}")
            lines.append(f"  {'':<12} why: {skipped.reason}")
        lines.append("")
    lines.append("Passed")
    by_check: dict[tuple[str, str], list[str]] = defaultdict(list)
    for result in report.passed:
        by_check[(result.id, result.name)].append(result.resource)
    for (check_id, name), resources in sorted(by_check.items()):
        lines.append(f"  {check_id:<12} {name}")
        lines.extend(f"  {'':<14}{resource}" for resource in resources)
    return "\n".join(lines) + "\n"
