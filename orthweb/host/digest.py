"""Which version of the host application a host runs: a digest of the templates it is made from."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from orthweb.host.render import TEMPLATES_DIR

DIGEST_LENGTH = 16


@cache
def templates_digest(templates_dir: Path = TEMPLATES_DIR) -> str:
    """SHA-256 (first 16 hex digits) of every template's name and bytes.

    Content, not history: the same templates give the same digest in a full clone, a shallow one
    (where `git log` answers HEAD for every path) or an unpacked archive, so a deploy from CI never
    replaces the hosts unless what they run changed.
    """
    digest = hashlib.sha256()
    for path in sorted(templates_dir.glob("*.j2")):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:DIGEST_LENGTH]
