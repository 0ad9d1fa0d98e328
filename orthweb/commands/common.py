"""Arguments and error reporting shared by the commands that evaluate the stack offline."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from orthweb.config import ConfigError
from orthweb.evaluate import Evaluation, evaluate


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
