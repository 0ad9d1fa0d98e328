"""`orthweb verify`: the seed's user and technical validation of a deployed stack, as one command.

    from orthweb.ops.verify import Verifier, connect
    report = Verifier(AwsStack(connect(region="eu-west-1"), "dev"), runner=SsmRunner(...)).run()

Checks that need AWS go through `StackBackend` (discovery, S3 head) and `HostRunner` (SSM Run
Command); the address the site and DICOM checks dial is an `Endpoint` override. See docs/verify.md.
"""

from orthweb.ops.verify.aws import AwsStack, SsmRunner, VerifyClients, connect
from orthweb.ops.verify.checks import Endpoint, Options, Verifier
from orthweb.ops.verify.host import HostLayout, HostRunner
from orthweb.ops.verify.model import CheckResult, Report, StackBackend

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
