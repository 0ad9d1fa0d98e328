"""`python -m orthweb <command>`: offline evaluation and day-2 operations of the stack."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from orthweb.shared import redaction

# Each module in orthweb.commands (named after its command, `_` for `-`) exposes register(subparsers);
# the parser it adds sets `func(args) -> int`. Modules are imported lazily so `--help` stays fast.
COMMANDS: tuple[str, ...] = (
    "plan",
    "check",
    "failover",
    "verify",
    "token",
    "modality-cert",
    "audit",
    "restore",
    "drill",
    "vpn",
)
# Environment variables whose names say they hold a secret (AWS_SECRET_ACCESS_KEY, PULUMI_ACCESS_TOKEN, ...).
SECRET_VARIABLE = re.compile(r"SECRET|TOKEN|PASSWORD|PASSPHRASE|PRIVATE|CREDENTIAL", re.IGNORECASE)
# What an unexpected failure exits with (a bug: no traceback unless ORTHWEB_DEBUG is set).
INTERNAL_ERROR = 70


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orthweb",
        description="Evaluate the orthweb Pulumi stack offline and operate a deployed one.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"orthweb.commands.{name.replace('-', '_')}").register(subparsers)
    return parser


def remember_inputs(argv: Sequence[str], environ: dict[str, str]) -> None:
    """Start a command's redaction afresh: secrets in the environment, and every argument that
    might be one (a value given as KEY=VALUE counts in both halves, and a JSON value by its strings)."""
    redaction.forget_all()
    for name, value in environ.items():
        # AWS_SHARED_CREDENTIALS_FILE names a file: its path is no secret.
        if SECRET_VARIABLE.search(name) and not name.endswith(("_FILE", "_PATH", "_DIR")):
            redaction.register(value)
    for token in argv:
        key, separator, value = token.partition("=")
        if not separator:
            _remember_argument(token)
            continue
        # A config path's indexes (`ssoAdminEmails[0]`) are structure, not part of a possible secret.
        redaction.register_input(re.sub(r"\[\d+\]", "", key))
        try:
            redaction.register_input(json.loads(value))
        except ValueError:
            _remember_argument(value)


def _remember_argument(text: str) -> None:
    # A file, or a file to be in a folder that exists, is a path however its names read.
    if os.sep in text:
        with contextlib.suppress(OSError, ValueError):
            path = Path(text).expanduser()
            if path.exists() or path.parent.is_dir():
                return
    redaction.register_input(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command with everything it prints, stdout and stderr, passed through the redaction."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    remember_inputs(arguments, dict(os.environ))
    with redaction.redacted_output():
        try:
            args = build_parser().parse_args(arguments)
            code = int(args.func(args))
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader went away (`plan | head`): stop quietly, and keep Python's exit-time flush
            # of stdout from raising again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except ModuleNotFoundError as missing:  # a missing prerequisite, not a bug: say what to run
            print(
                f"orthweb: Python package {missing.name} is missing: run scripts/setup (in a checkout), or "
                "reinstall orthweb with its dependencies",
                file=sys.stderr,
            )
            return 2
        except Exception as error:  # a bug: one line, never a traceback or a raw library message
            print(f"orthweb: internal error ({type(error).__name__}): {error}; please report it", file=sys.stderr)
            if os.environ.get("ORTHWEB_DEBUG"):
                traceback.print_exc()
            return INTERNAL_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
