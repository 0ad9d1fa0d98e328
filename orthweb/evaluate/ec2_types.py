"""What the offline engine knows about EC2 instance types: a recording of EC2's own answers.

`orthweb/data/instance_types.json` holds DescribeInstanceTypes' `SupportedArchitectures` and
`AutoRecoverySupported` for the types the stack files, the price table and the tests use, with its
source. The mock engine answers the provider's instance-type lookup from it; a type it has no
record of gets an answer that says nothing, and `plan` says the question is left to `pulumi up`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources as package_files


@dataclass(frozen=True)
class RecordedType:
    architectures: tuple[str, ...]
    auto_recovery_supported: bool


@cache
def recorded_types() -> dict[str, RecordedType]:
    text = package_files.files("orthweb").joinpath("data/instance_types.json").read_text(encoding="utf-8")
    rows = json.loads(text)["types"]
    return {
        name: RecordedType(tuple(row["architectures"]), bool(row["auto_recovery_supported"]))
        for name, row in rows.items()
    }
