"""Runtime harness: run one host's rendered application config on 127.0.0.1.

    from orthweb.host.render import render_host_files
    from orthweb.harness import Stack

    with Stack(render_host_files(ctx)) as stack:
        status, headers, body = stack.request("/system", credential=stack.admin)

See docs/runtime-harness.md.
"""

from orthweb.harness.orthanc import OVERLAY_KEYS
from orthweb.harness.processes import HarnessError
from orthweb.harness.secrets import Credential, SecretInputs
from orthweb.harness.stack import UNSUPPORTED_BY_DEBIAN, Stack, load_rendered, replica_count

__all__ = [
    "OVERLAY_KEYS",
    "UNSUPPORTED_BY_DEBIAN",
    "Credential",
    "HarnessError",
    "SecretInputs",
    "Stack",
    "load_rendered",
    "replica_count",
]
