"""`python -m tools.bench` (what `scripts/bench` runs): modeled deploy time, DICOM and web throughput
on the runtime harness, program cost. See docs/benchmarks.md.

A development tool, not part of the installed `orthweb`: it needs the test extras (`scripts/setup
--test`) and the Debian packages of the runtime harness (`scripts/setup --all`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from orthweb.commands.cli import remember_inputs
from orthweb.shared import redaction

if TYPE_CHECKING:
    from tools.bench.runner import BenchSettings

DEFAULT_OUT = Path("bench-results.json")
PROG = "bench"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
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
    parser.add_argument(
        "--proxy-variant",
        action="append",
        metavar="NAME",
        help="run only this Envoy variant on the whole studies (repeatable); default: all, or one with --quick",
    )
    parser.add_argument("--no-variants", action="store_true", help="measure our configuration only")
    parser.add_argument(
        "--studies-only",
        nargs="?",
        const="full",
        choices=("quick", "medium", "full"),
        metavar="SIZE",
        help="only the whole-study workloads and their Envoy variants, on one stack: quick, medium or full "
        "(default: full)",
    )
    return parser


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    try:
        from tools.bench.report import format_report
        from tools.bench.runner import run_bench, run_studies
        from tools.harness import HarnessError
    except ModuleNotFoundError as missing:
        return _missing(missing)
    stream: TextIO = out if out is not None else sys.stdout
    try:
        settings = _settings(args)
    except ModuleNotFoundError as missing:
        return _missing(missing)
    except ValueError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    try:
        result = run_studies(settings) if args.studies_only else run_bench(settings)
    except ModuleNotFoundError as missing:
        return _missing(missing)
    except (HarnessError, OSError, RuntimeError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2) + "\n"
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"{PROG}: cannot write {args.out}: {error.strerror}", file=sys.stderr)
        return 2
    stream.write(text if args.json else format_report(result))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _settings(args: argparse.Namespace) -> BenchSettings:
    """What the arguments ask for; ValueError naming an unknown variant."""
    from dataclasses import replace

    from tools.bench.proxies import QUICK_PROXY_VARIANTS, proxy_variants
    from tools.bench.runner import BenchSettings
    from tools.bench.studies import SIZES
    from tools.bench.variants import QUICK_VARIANTS, by_name

    names = args.variant or (QUICK_VARIANTS if args.quick else None)
    variants = () if args.no_variants or args.studies_only else by_name(names)
    settings = BenchSettings.quick_mode(variants) if args.quick else BenchSettings.full(variants)
    proxies = args.proxy_variant or (QUICK_PROXY_VARIANTS if args.quick else None)
    settings = replace(settings, proxy_variants=() if args.no_variants else proxy_variants(proxies))
    return replace(settings, studies=SIZES[args.studies_only]) if args.studies_only else settings


def _missing(error: ModuleNotFoundError) -> int:
    print(f"{PROG}: Python package {error.name} is missing: run scripts/setup --test", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench with everything it prints passed through orthweb's redaction, as the CLI does."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    remember_inputs(arguments, dict(os.environ))
    with redaction.redacted_output():
        return run(build_parser().parse_args(arguments))


if __name__ == "__main__":
    sys.exit(main())
