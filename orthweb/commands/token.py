"""`python -m orthweb token`: print a short-lived access token from the stack's machine client.

curl -H "Authorization: Bearer $(python -m orthweb token --stack prod --role viewer)" https://<site>/system
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from orthweb.commands.common import add_deployed_stack_arguments, stack_and_secrets
from orthweb.ops.aws import AwsClients, OpsError
from orthweb.ops.token import find_machine_client, request_token
from orthweb.shared import redaction, sso


def register(subparsers: argparse._SubParsersAction) -> None:  # pyright: ignore[reportPrivateUsage]
    parser = subparsers.add_parser(
        "token",
        help="print a short-lived access token for scripts and DICOMweb clients (authentication = sso)",
        description=(
            "Read the stack's machine client from Secrets Manager with your AWS credentials, ask the "
            "stack's Cognito domain for an access token with the role's scope (client credentials) and "
            "print only the token. The client secret is never printed."
        ),
    )
    add_deployed_stack_arguments(parser)
    parser.add_argument(
        "--role", choices=sso.ROLES, default=sso.VIEWER, help=f"what the token may do (default: {sso.VIEWER})"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, clients: AwsClients | None = None, out: TextIO | None = None) -> int:
    """Exit 0 with the token on stdout; 1 with one line on stderr otherwise."""
    stream: TextIO = out if out is not None else sys.stdout
    try:
        stack, clients = stack_and_secrets(args, clients)
        token = request_token(find_machine_client(clients, stack), args.role)
    except OpsError as error:
        print(f"orthweb token: {error}", file=sys.stderr, flush=True)
        return 1
    # The one value orthweb prints on purpose; nothing else may show any part of it.
    redaction.register(token.value)
    redaction.reveal(stream, token.value + "\n")
    if token.expires_in:
        print(f"orthweb token: {args.role} token, valid {token.expires_in // 60} min", file=sys.stderr)
    return 0
