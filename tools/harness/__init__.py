"""Runtime harness: run one host's rendered application config on 127.0.0.1.

    from orthweb.host.render import render_host_files
    from tools.harness import Stack

    with Stack(render_host_files(ctx)) as stack:
        status, headers, body = stack.request("/system", credential=stack.admin)

See docs/runtime-harness.md.
"""

from tools.harness.orthanc import OVERLAY_KEYS
from tools.harness.processes import HarnessError
from tools.harness.secrets import Credential, SecretInputs
from tools.harness.stack import UNSUPPORTED_BY_DEBIAN, Stack, load_rendered, replica_count

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
