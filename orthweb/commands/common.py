"""Arguments and error reporting shared by the commands: evaluating the stack offline, and the
selected Pulumi stack for the commands that operate a deployed one."""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from orthweb.config.problems import ConfigError
from orthweb.config.validation import check_region, check_stack_name
from orthweb.evaluate import PROJECT_ROOT, Evaluation, evaluate
from orthweb.evaluate.overrides import parse_assignment, value_of
from orthweb.evaluate.stack_file import read_stack_file
from orthweb.ops.aws import AwsClients, OpsError, open_clients
from orthweb.shared import redaction


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to read (default: dev)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one config key for this evaluation, e.g. deploymentOptions.orthancReplicas=5 (objects merge)",
    )
    parser.add_argument(
        "--set-file",
        action="append",
        default=[],
        metavar="KEY=PATH",
        help="set a key to a file's content, as a secret (never printed), e.g. siteCertificateKey=key.pem",
    )


def _overrides(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """The `--set` values (JSON where they parse) and the `--set-file` contents, which are secrets."""
    overrides: dict[str, Any] = {}
    for pair in args.set:
        key, text = parse_assignment(pair)
        overrides[key] = value_of(text)
    secret_keys = []
    for pair in getattr(args, "set_file", []):
        key, path = parse_assignment(pair, "--set-file")
        try:
            overrides[key] = Path(path).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise ConfigError.of("--set-file", pair, f"a readable text file ({reason})") from None
        # Never shown, not even in part: whatever the key, and however a message quotes it.
        redaction.register(overrides[key])
        secret_keys.append(key)
    return overrides, secret_keys


def evaluate_or_report(args: argparse.Namespace) -> Evaluation | None:
    """Evaluate, or print the one-line reason it cannot be done and return None."""
    try:
        overrides, secret_keys = _overrides(args)
        evaluation = evaluate(args.stack, overrides, secret_overrides=secret_keys)
    except ConfigError as error:
        # One line per problem, each marked as orthweb's, all of them at once.
        for line in str(error).splitlines():
            print(f"orthweb: {line}", file=sys.stderr)
        if getattr(args, "json", False):
            write_json({"stack": args.stack, "errors": str(error).splitlines(), "warnings": []})
        return None
    for resource in evaluation.resources:
        # Ids the engine assigned are public, even one that looks random (a Cognito client id).
        redaction.vouch(resource.id)
    for resource in evaluation.resources:
        if resource.type == "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter":
            # orthweb's own filter patterns: a regular expression mixes symbols as a password does.
            redaction.vouch(str(resource.inputs.get("filterPattern", "")))
    return evaluation


def write_json(document: dict[str, Any]) -> None:
    """One JSON document on stdout, its keys sorted: identical input prints identical bytes."""
    json.dump(redaction.scrub_document(document), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


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


REGION_HELP = "AWS region (default: aws:region of Pulumi.<stack>.yaml, as plan reads it; else your AWS profile's)"


def add_deployed_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """`--stack` and `--region` of every command that works on a deployed stack."""
    parser.add_argument("--stack", help="stack name (default: the selected Pulumi stack)")
    parser.add_argument("--region", help=REGION_HELP)


def stack_and_secrets(args: argparse.Namespace, clients: AwsClients | None) -> tuple[str, AwsClients]:
    """The stack `--stack` names (else the selected Pulumi stack), and `clients` or else Secrets Manager
    alone in its region (`stack_region`): for the commands that read one of its secrets."""
    stack = args.stack or selected_pulumi_stack()
    if clients is None:
        region, opened = open_clients(("secretsmanager",), region=stack_region(stack, args.region))
        clients = AwsClients(ec2=None, secretsmanager=opened["secretsmanager"], region=region)
    return stack, clients


def stack_region(stack: str, given: str | None) -> str | None:
    """`--region` when given, else the stack file's `aws:region` (what `pulumi up` deployed to),
    else None: the AWS profile or environment decides. A stack name or region that cannot be one,
    or a stack file that cannot be read, is an OpsError."""
    try:
        check_stack_name(stack)
        if given:
            return check_region(given, "--region")
    except ConfigError as error:
        raise OpsError(str(error)) from None
    path = PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return None
    try:
        values, _ = read_stack_file(path)
    except ConfigError as error:
        raise OpsError(str(error)) from None
    region = values.get("aws:region")
    return region if isinstance(region, str) and region else None


def confirmed_on_terminal(question: str, *, non_interactive: str) -> bool:
    """Ask on the terminal; with none (a pipe, CI), refuse and name the flag that skips the question."""
    if not sys.stdin.isatty():
        raise OpsError(f"no terminal to confirm on; pass --yes to {non_interactive} non-interactively")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def stack_live_data(args: argparse.Namespace, clients: dict[str, Any] | None) -> tuple[dict[str, Any], Any]:
    """The AWS clients and the stack's live database and bucket, as `restore` and `drill` both start."""
    from orthweb.ops.restore import find_live_data

    stack = args.stack or selected_pulumi_stack()
    clients = clients or open_clients(("rds", "s3"), region=stack_region(stack, args.region))[1]
    return clients, find_live_data(clients["rds"], clients["s3"], stack, datetime.datetime.now(datetime.UTC))
