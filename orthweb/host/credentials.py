"""A web credential of the Orthanc site (admin or health-check account)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credential:
    username: str
    password: str = field(repr=False)  # never in a log or a test failure message

    @property
    def header(self) -> str:
        """The HTTP Basic `Authorization` value."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"
