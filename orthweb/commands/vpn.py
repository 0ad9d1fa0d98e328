"""`python -m orthweb vpn`: what the hospital's network team and the modalities need (hospitalNetwork).

Writes the VPN device's settings (tunnel endpoints, inside addresses, the IKE and IPsec choices and
the pre-shared keys AWS generated) to a file readable by its owner only, and prints the modality-side
settings in one table. The pre-shared keys are never printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from orthweb.commands.common import add_deployed_stack_arguments, selected_pulumi_stack, stack_region
from orthweb.ops.aws import AwsClients, OpsError, open_clients
from orthweb.ops.client_certificates import write_private_file
from orthweb.ops.tagged import TaggedStack
from orthweb.ops.vpn import VpnSettings, hospital_vpn
from orthweb.shared.modalities import OWN_AET


def register(subparsers: argparse._SubParsersAction) -> None:  # pyright: ignore[reportPrivateUsage]
    parser = subparsers.add_parser(
        "vpn",
        help="write the hospital VPN device's settings to a file; print where modalities send plain DICOM",
        description=(
            "Read the stack's Site-to-Site VPN (hospitalNetwork) with your AWS credentials, write the VPN "
            "device's settings, pre-shared keys included, to FILE (readable by you only), and print the "
            "modality-side settings. The pre-shared keys are never printed."
        ),
    )
    add_deployed_stack_arguments(parser)
    parser.add_argument("--out", required=True, metavar="FILE", type=Path, help="the settings file to write (0600)")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, clients: AwsClients | None = None, out: TextIO | None = None) -> int:
    """Exit 0 once the file is written; 1 with one line on stderr otherwise (nothing written)."""
    stream: TextIO = out if out is not None else sys.stdout
    try:
        stack = args.stack or selected_pulumi_stack()
        if clients is None:
            region, opened = open_clients(("ec2",), region=stack_region(stack, args.region))
            clients = AwsClients(ec2=opened["ec2"], secretsmanager=None, region=region)
        settings = hospital_vpn(TaggedStack(clients, stack))
        if settings is None:
            raise OpsError(f"stack {stack} has no VPN to a hospital: set hospitalNetwork and run pulumi up")
        write_private_file(Path(args.out).expanduser(), settings.file_content(stack), replace=args.force)
    except OpsError as error:
        print(f"orthweb vpn: {error}", file=sys.stderr, flush=True)
        return 1
    stream.write(summary(settings, args.out))
    stream.flush()
    return 0


def summary(settings: VpnSettings, path: Path) -> str:
    """What the command prints: the file, the tunnels' state, and one row per modality destination."""
    tunnels = ", ".join(f"{t.aws_outside_address} {t.status.lower() or 'state unknown'}" for t in settings.tunnels)
    lines = [
        f"wrote {path} (mode 0600): the VPN device's settings and the tunnels' pre-shared keys",
        f"  connection {settings.connection_id} ({settings.state}); tunnels: {tunnels}",
        "",
        "Modality settings (plain DICOM, from the hospital's ranges through the VPN only):",
        f"  {'called AE title':<16} {'address':<16} port",
    ]
    for destination in settings.destinations:
        address, _, port = destination.rpartition(":")
        lines.append(f"  {OWN_AET:<16} {address:<16} {port}")
    lines.append("Each modality calls with its own AE title, which must be one of dicomModalities.")
    return "\n".join(lines) + "\n"
