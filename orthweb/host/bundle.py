"""A host's bundle: its application files (layout.HOST_FILES) in one tar, named by its SHA-256.

The same files always give the same bytes (fixed order, owner, modes and times; plain USTAR, not
compressed, so neither the Python nor the zlib version of the machine running `pulumi up` changes
the digest): an unchanged application never replaces a host, a changed one always does.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from orthweb.host.layout import HOST_FILES
from orthweb.shared.constants import BUNDLE_PREFIX

_BY_MEMBER: Final = {file.path.lstrip("/"): file for file in HOST_FILES}


@dataclass(frozen=True)
class HostBundle:
    """The bundle of one host: its files by name (as render_host_files names them) and their tar."""

    files: Mapping[str, str]

    @cached_property
    def archive(self) -> bytes:
        return pack(self.files)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.archive).hexdigest()

    @property
    def key(self) -> str:
        """The object key in the stack's bundle bucket: the content's digest names it."""
        return bundle_key(self.sha256)


def bundle_key(sha256: str) -> str:
    return f"{BUNDLE_PREFIX}{sha256}.tar"


def pack(files: Mapping[str, str]) -> bytes:
    """Every file of the table, at its path on the host (relative to /), root-owned, its mode."""
    missing = [file.name for file in HOST_FILES if file.name not in files]
    if missing:
        raise ValueError(f"host bundle: no rendered file for {missing}")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for file in HOST_FILES:
            data = files[file.name].encode()
            info = tarfile.TarInfo(file.path.lstrip("/"))
            info.size = len(data)
            info.mode = int(file.mode, 8)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def unpack(archive: bytes) -> dict[str, str]:
    """The files of a bundle by name; refuses a member the table does not list."""
    files: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        for member in tar.getmembers():
            file = _BY_MEMBER.get(member.name)
            extracted = tar.extractfile(member) if member.isfile() else None
            if file is None or extracted is None:
                raise ValueError(f"host bundle: unexpected member {member.name!r}")
            files[file.name] = extracted.read().decode()
    return files
