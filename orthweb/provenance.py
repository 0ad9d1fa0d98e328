"""Which commit the deployed application layer comes from."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The files whose content ends up on the hosts.
APPLICATION_PATHS = ("templates", "orthweb/application.py")


@cache
def application_commit(root: Path = PROJECT_ROOT) -> str:
    """The last commit that changed what runs on the hosts, or "unknown" outside a checkout.

    Not HEAD: a commit elsewhere in the repository must not change user data, which replaces
    the hosts.
    """
    try:
        result = subprocess.run(
            ["git", "log", "-1", "--format=%H", "--", *APPLICATION_PATHS],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = result.stdout.strip()
    return commit if len(commit) == 40 else "unknown"
