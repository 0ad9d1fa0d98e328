"""`orthweb bench`: modeled deploy time, DICOM and web throughput on the harness, program cost."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

DEFAULT_OUT = Path("bench-results.json")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="benchmark: modeled deploy time, DICOM/web throughput on local servers, program cost",
        description="Model the time to a serving site for the dev and prod stacks against the Terraform "
        "orthweb; run the dev stack's rendered Envoy + Orthanc + PostgreSQL on 127.0.0.1 (runtime harness) "
        "and measure C-STORE ingest and file downloads through Envoy, straight to one replica and on a stock "
        "Orthanc, plus named setting variants; time `plan` and the test suite. See docs/benchmarks.md.",
    )
    parser.add_argument("--quick", action="store_true", help="1 run and small counts (CI smoke, under 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="FILE",
        help=f"where to write the JSON (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--variant",
        action="append",
        metavar="NAME",
        help="run only this variant (repeatable); default: all of them, or three with --quick",
    )
    parser.add_argument("--no-variants", action="store_true", help="measure our configuration only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from orthweb.bench.report import format_report
    from orthweb.bench.runner import BenchSettings, run_bench
    from orthweb.bench.variants import QUICK_VARIANTS, by_name
    from orthweb.harness import HarnessError

    stream: TextIO = out if out is not None else sys.stdout
    try:
        names = args.variant or (QUICK_VARIANTS if args.quick else None)
        variants = () if args.no_variants else by_name(names)
    except ValueError as error:
        print(f"orthweb bench: {error}", file=sys.stderr)
        return 2
    settings = BenchSettings.quick_mode(variants) if args.quick else BenchSettings.full(variants)
    try:
        result = run_bench(settings)
    except (HarnessError, OSError, RuntimeError) as error:
        print(f"orthweb bench: {error}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2) + "\n"
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"orthweb bench: cannot write {args.out}: {error.strerror}", file=sys.stderr)
        return 2
    stream.write(text if args.json else format_report(result))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
