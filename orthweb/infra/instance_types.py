"""EC2 instance types: existence from botocore's model, CPU architecture from the name.

botocore ships the EC2 `InstanceType` enum, which is the list AWS validates against; a regular
expression would accept names that do not exist.
"""

from __future__ import annotations

import re
from functools import cache

import botocore.session

_NAME = re.compile(r"^(?P<family>[a-z]+)(?P<generation>\d+)(?P<attributes>[a-z-]*)\.(?P<size>[a-z0-9-]+)$")
# Families that are neither x86_64 nor arm64 Linux, or that Amazon Linux 2023 does not boot.
_UNSUPPORTED_FAMILIES = ("mac", "t1", "m1", "m2", "c1", "cc", "cg", "cr", "hi", "hs")


@cache
def known_instance_types() -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("ec2")
    return frozenset(model.shape_for("InstanceType").enum)


def is_known(name: str) -> bool:
    return name in known_instance_types()


def architecture(name: str) -> str:
    """'arm64' for Graviton types (a1, and a 'g' right after the generation: t4g, m7gd, x2gd)."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"not an instance type name: {name!r}")
    if match["family"] == "a" and match["generation"] == "1":
        return "arm64"
    return "arm64" if match["attributes"].startswith("g") else "x86_64"


def supports_al2023(name: str) -> bool:
    match = _NAME.match(name)
    if match is None:
        return False
    family = f"{match['family']}{match['generation']}"
    return not any(family.startswith(prefix) for prefix in _UNSUPPORTED_FAMILIES) and not name.startswith("mac")


# Nominal memory: the burstable families by size; the others by vCPUs (from the size) times their
# family's GiB per vCPU (c 2, m 4, r 8, x 16 as AWS sizes them). None where the name does not say.
_BURSTABLE_GIB = {"nano": 0.5, "micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8, "x": 16}


def nominal_memory_gib(name: str) -> float | None:
    """The memory AWS lists for the type, from its name; None when the name does not determine it."""
    match = _NAME.match(name)
    if match is None:
        return None
    family, size = match["family"], match["size"]
    if family == "t":
        return _BURSTABLE_GIB.get(size)
    per_vcpu = _GIB_PER_VCPU.get(family)
    vcpus = _vcpus(size)
    return per_vcpu * vcpus if per_vcpu is not None and vcpus is not None else None


def _vcpus(size: str) -> int | None:
    if size == "medium":
        return 1
    if size == "large":
        return 2
    if size == "xlarge":
        return 4
    multiple = re.fullmatch(r"(\d+)xlarge", size)
    return 4 * int(multiple[1]) if multiple else None
