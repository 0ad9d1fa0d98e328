"""`python -m orthweb verify`: a manual validation of a deployed stack, as one command."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from orthweb.commands.common import add_deployed_stack_arguments, selected_pulumi_stack, stack_region
from orthweb.ops.aws import OpsError
from orthweb.ops.verify.model import CheckFailed, CheckResult, Report
from orthweb.ops.verify.settings import Endpoint, Options
from orthweb.ops.verify.verifier import Verifier
from orthweb.shared.constants import DICOM_TLS_PORT, HTTPS_PORT


def register(subparsers: argparse._SubParsersAction) -> None:  # pyright: ignore[reportPrivateUsage]
    parser = subparsers.add_parser(
        "verify",
        help="check a deployed stack end to end: site, DICOM-TLS, host, database, storage",
        description=(
            "Find the stack by its orthweb tags and check it as a user and as an administrator would: "
            "HTTPS with the site certificate and the generated credential, that DICOM-TLS refuses "
            "callers other than the configured modalities, C-ECHO and C-STORE over DICOM-TLS as one of "
            "them (with its client certificate if the stack issues them), the test instance back over "
            "REST and in the encrypted bucket, then on the serving "
            "host (SSM Run Command, no SSH) cloud-init, containers, Envoy's view of the replicas and TLS "
            "on the database connections. Exit 0 only when every check passes. Uses your AWS credentials."
        ),
    )
    add_deployed_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--keep", action="store_true", help="leave the test instance in Orthanc")
    parser.add_argument(
        "--modality",
        metavar="AET",
        help="the configured modality the DICOM checks call as (default: the first Orthanc lists)",
    )
    parser.add_argument(
        "--address", help="name or IP the certificate must cover and clients use (default: the Elastic IP)"
    )
    parser.add_argument("--connect-to", metavar="HOST", help="dial HOST instead of the address (e.g. a tunnel)")
    parser.add_argument("--https-port", type=int, default=HTTPS_PORT, help=f"default {HTTPS_PORT}")
    parser.add_argument("--dicom-port", type=int, default=DICOM_TLS_PORT, help=f"default {DICOM_TLS_PORT}")
    parser.add_argument(
        "--host-timeout", type=float, default=180.0, help="seconds to wait for the SSM command (default 180)"
    )
    parser.set_defaults(func=run)


def default_arguments(*, stack: str, region: str | None) -> argparse.Namespace:
    """verify's arguments for `stack` with every other option at its default (as restore runs it)."""
    parser = argparse.ArgumentParser(prog="orthweb")
    register(parser.add_subparsers())
    return parser.parse_args(["verify", "--stack", stack, *(["--region", region] if region else [])])


def endpoint_of(args: argparse.Namespace) -> Endpoint:
    return Endpoint(
        address=args.address,
        connect_host=args.connect_to,
        https_port=args.https_port,
        dicom_port=args.dicom_port,
    )


def run(args: argparse.Namespace, *, verifier: Verifier | None = None, out: TextIO | None = None) -> int:
    """Exit 0 when every check passes, 1 when one fails, 2 when the checks cannot start."""
    stream: TextIO = out if out is not None else sys.stdout
    if verifier is None:
        try:
            verifier = _aws_verifier(args)
        except CheckFailed as error:
            print(f"orthweb verify: {error.detail}" + (f" ({error.hint})" if error.hint else ""), file=sys.stderr)
            return 2
    if not args.json and sys.stderr.isatty():
        verifier.progress = _progress
    try:
        report: Report = verifier.run()
    except KeyboardInterrupt:
        print("orthweb verify: interrupted; a test instance may be left (patient ORTHWEB-VERIFY)", file=sys.stderr)
        return 130
    stream.write(report.dumps() if args.json else report.table())
    stream.flush()
    return 0 if report.ok else 1


def _progress(result: CheckResult) -> None:
    print(f"  ... {result.id}: {result.status}", file=sys.stderr, flush=True)


def _aws_verifier(args: argparse.Namespace) -> Verifier:
    from orthweb.ops.verify.aws import AwsStack, SsmRunner, connect
    from orthweb.ops.verify.sso_checks import AwsSignIn
    from orthweb.ops.verify.telemetry_checks import AwsTelemetry

    try:
        stack = args.stack or selected_pulumi_stack()
        region = stack_region(stack, args.region)
    except OpsError as error:
        raise CheckFailed(str(error)) from None
    clients = connect(region=region)
    return Verifier(
        AwsStack(clients, stack),
        SsmRunner(clients.ssm),
        endpoint=endpoint_of(args),
        options=Options(keep=args.keep, dicom_modality=args.modality, host_timeout=args.host_timeout),
        stack=stack,
        region=clients.region,
        telemetry=AwsTelemetry.connect(region=clients.region),
        sign_in=AwsSignIn(clients.stack_clients, stack),
    )
