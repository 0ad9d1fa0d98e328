"""`python -m orthweb <command>`: offline evaluation and day-2 operations of the stack."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Each module in orthweb.commands (named after its command, `_` for `-`) exposes register(subparsers);
# the parser it adds sets `func(args) -> int`. Modules are imported lazily so `--help` stays fast.
COMMANDS: tuple[str, ...] = ("plan", "check", "failover", "verify", "bench", "token", "modality-cert")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orthweb",
        description="Evaluate the orthweb Pulumi stack offline and operate a deployed one.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"orthweb.commands.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`plan | head`): stop quietly, and keep Python's exit-time flush
        # of stdout from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
