"""The hosts' firewall rules out to the configured DICOM modalities (C-MOVE destinations)."""

from __future__ import annotations

from orthweb.infra.firewall import Rule
from orthweb.shared.modalities import DicomModality


def modality_egress_rules(modalities: tuple[DicomModality, ...]) -> tuple[Rule, ...]:
    """One rule per port, to each configured address on it: Orthanc opens the association."""
    networks_by_port: dict[int, set[str]] = {}
    for modality in modalities:
        networks_by_port.setdefault(modality.port, set()).add(modality.network)
    return tuple(
        Rule(f"dicom-{port}", "DICOM to configured modalities (C-MOVE results)", port, tuple(sorted(networks)))
        for port, networks in sorted(networks_by_port.items())
    )
