"""`python -m orthweb modality-cert`: write one modality's DICOM client certificate and key to a file.

With `dicomClientCertificates: true` the stack issues each configured modality a certificate, and
DICOM-TLS admits no caller without one. The file is for that modality's administrator; the key in
it is never printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from orthweb.commands.common import add_deployed_stack_arguments, stack_and_secrets
from orthweb.ops.aws import AwsClients, OpsError
from orthweb.ops.client_certificates import ClientCertificate, client_certificates, pick, write_private_file
from orthweb.ops.tagged import TaggedStack


def register(subparsers: argparse._SubParsersAction) -> None:  # pyright: ignore[reportPrivateUsage]
    parser = subparsers.add_parser(
        "modality-cert",
        help="write a modality's DICOM client certificate and key to a file (dicomClientCertificates)",
        description=(
            "Read the stack's DICOM client certificates from Secrets Manager with your AWS credentials "
            "(only the stack's administrators may) and write the one of MODALITY, its issuing CA and its "
            "private key to FILE, readable by you only. The key is never printed."
        ),
    )
    add_deployed_stack_arguments(parser)
    parser.add_argument(
        "--modality", required=True, metavar="AET", help="the modality's AE title, as in dicomModalities"
    )
    parser.add_argument("--out", required=True, metavar="FILE", type=Path, help="the PEM file to write (mode 0600)")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, clients: AwsClients | None = None, out: TextIO | None = None) -> int:
    """Exit 0 once the file is written; 1 with one line on stderr otherwise (nothing written)."""
    stream: TextIO = out if out is not None else sys.stdout
    try:
        stack, clients = stack_and_secrets(args, clients)
        certificates = client_certificates(TaggedStack(clients, stack))
        if certificates is None:
            raise OpsError(
                f"stack {stack} issues no DICOM client certificates: set dicomClientCertificates to true "
                "and run pulumi up"
            )
        certificate = pick(certificates, args.modality)
        write_private_file(Path(args.out).expanduser(), certificate.file_content(), replace=args.force)
    except OpsError as error:
        print(f"orthweb modality-cert: {error}", file=sys.stderr, flush=True)
        return 1
    stream.write(summary(certificate, args.out))
    stream.flush()
    return 0


def summary(certificate: ClientCertificate, path: Path) -> str:
    return (
        f"wrote {path} (mode 0600): the DICOM client certificate of {certificate.aet}, its CA and its private key\n"
        f"  names   {certificate.uri}\n"
        f"  expires {certificate.not_after:%Y-%m-%d} (a `pulumi up` in its last month issues a new one)\n"
        f"  SHA-256 {certificate.sha256}\n"
        f"Configure the modality to present it on DICOM-TLS, calling AE title ORTHANC as {certificate.aet}, "
        f"e.g. DCMTK: storescu +tls {path} {path} +cf site.crt -aet {certificate.aet} -aec ORTHANC <site> 11112\n"
    )
