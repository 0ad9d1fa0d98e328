"""Arguments and error reporting shared by the commands: evaluating the stack offline, and the
selected Pulumi stack for the commands that operate a deployed one."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from typing import Any

from orthweb.config import ConfigError
from orthweb.evaluate import Evaluation, evaluate
from orthweb.ops.aws import OpsError


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to read (default: dev)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key for this evaluation, e.g. deploymentOptions='{\"orthancReplicas\": 2}'",
    )


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, separator, text = pair.partition("=")
        if not separator or not key:
            raise ConfigError("--set", pair, "KEY=VALUE")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        overrides[key] = value if isinstance(value, dict | list) else text
    return overrides


def evaluate_or_report(args: argparse.Namespace) -> Evaluation | None:
    """Evaluate, or print the one-line reason it cannot be done and return None."""
    try:
        return evaluate(args.stack, _parse_overrides(args.set))
    except ConfigError as error:
        print(f"orthweb: {error}", file=sys.stderr)
        return None


def selected_pulumi_stack() -> str:
    """The stack `pulumi stack --show-name` reports here (without its organisation), for `--stack`'s default."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise OpsError("pass --stack (the pulumi CLI is not on PATH to ask for the selected stack)")
    try:
        done = subprocess.run([pulumi, "stack", "--show-name"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise OpsError(f"pass --stack (could not ask pulumi for the selected stack: {error})") from None
    name = done.stdout.strip()
    if done.returncode != 0 or not name:
        raise OpsError("pass --stack (no Pulumi stack is selected here)")
    return name.rsplit("/", 1)[-1]
