"""Two Orthanc sites compared through their REST APIs: the counts of `/statistics`, and a sample of
instances byte for byte (`/instances/<id>/file`). `drill` compares the live site with the restored
one: counts the live site has beyond the restored one were written after the restored moment."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Orthanc's GET /statistics (OrthancRestApi, "Get database statistics"): what both sites must agree on.
COUNTS = ("CountPatients", "CountStudies", "CountSeries", "CountInstances")
# Instances compared byte for byte: a sample keeps a drill cheap on a large archive.
SAMPLE_SIZE = 20


@dataclass(frozen=True)
class Site:
    """One site's REST API: GET a path as JSON, or as bytes (with the stack's credential)."""

    get_json: Callable[[str], Any]
    get_bytes: Callable[[str], bytes | None]


@dataclass(frozen=True)
class SiteComparison:
    live: dict[str, int]
    restored: dict[str, int]
    sampled: int
    different: tuple[str, ...]  # sampled instance ids whose files differ, or the live site lacks

    @property
    def counts_agree(self) -> bool:
        return self.live == self.restored

    def lines(self) -> list[str]:
        counts = ", ".join(f"{name.removeprefix('Count').lower()} {self.restored[name]}" for name in COUNTS)
        lines = [f"  restored site: {counts}"]
        for name in COUNTS:
            if self.live[name] != self.restored[name]:
                lines.append(
                    f"  {name.removeprefix('Count').lower()}: live {self.live[name]}, restored {self.restored[name]} "
                    "(written or deleted after the restored moment)"
                )
        lines.append(f"  {self.sampled} instances compared byte for byte, {len(self.different)} different")
        lines += [f"  different: instance {instance}" for instance in self.different]
        return lines


def compare_sites(live: Site, restored: Site, *, seed: float, sample_size: int = SAMPLE_SIZE) -> SiteComparison:
    """The counts of both, and a sample of the restored site's instances against the live site's."""
    instances = sorted(restored.get_json("/instances"))
    sample = random.Random(seed).sample(instances, min(sample_size, len(instances)))
    different = tuple(
        instance
        for instance in sample
        if (file := restored.get_bytes(f"/instances/{instance}/file")) is None
        or live.get_bytes(f"/instances/{instance}/file") != file
    )
    return SiteComparison(live=_counts(live), restored=_counts(restored), sampled=len(sample), different=different)


def _counts(site: Site) -> dict[str, int]:
    statistics = site.get_json("/statistics")
    return {name: int(statistics.get(name, 0)) for name in COUNTS}
