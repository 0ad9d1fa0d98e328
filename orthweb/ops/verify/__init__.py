"""`orthweb verify`: a manual validation of a deployed stack (as a user, as a DICOM client, as the
host's administrator), as one command.

    from orthweb.ops.verify import AwsStack, SsmRunner, Verifier, connect
    clients = connect(region="eu-west-1")
    report = Verifier(AwsStack(clients, "dev"), SsmRunner(clients.ssm)).run()

Checks that need AWS go through `StackBackend` (discovery, S3 head) and `HostRunner` (SSM Run
Command); the address the site and DICOM checks dial is an `Endpoint` override. See docs/verify.md.
"""

from orthweb.ops.verify.aws import AwsStack, SsmRunner, VerifyClients, connect
from orthweb.ops.verify.host import HostLayout, HostRunner
from orthweb.ops.verify.model import CheckResult, Report, StackBackend
from orthweb.ops.verify.settings import Endpoint, Options
from orthweb.ops.verify.verifier import Verifier

__all__ = [
    "AwsStack",
    "CheckResult",
    "Endpoint",
    "HostLayout",
    "HostRunner",
    "Options",
    "Report",
    "SsmRunner",
    "StackBackend",
    "Verifier",
    "VerifyClients",
    "connect",
]
