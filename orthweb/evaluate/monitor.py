"""The mock monitor, extended to record what each registration asked for."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from orthweb.evaluate.mocks import OfflineMocks
from orthweb.evaluate.model import RecordedResource, Secret


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping parent, dependencies and secret-marked inputs."""

    def __init__(self, mocks: OfflineMocks) -> None:
        super().__init__(mocks)
        self.records: list[RecordedResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw_inputs = rpc.deserialize_properties(request.object)
        registration = self.resources.get(response.urn)
        self.records.append(
            RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                inputs=_wrap_secrets(plain_assets(raw_inputs)),
                dependencies=tuple(request.dependencies),
                property_dependencies={key: tuple(value.urns) for key, value in request.propertyDependencies.items()},
                custom=bool(request.custom),
                id=response.id,
                state=plain_assets(registration.state) if registration else {},
                retain_on_delete=bool(request.retainOnDelete),
                delete_before_replace=bool(request.deleteBeforeReplace),
                ignore_changes=tuple(request.ignoreChanges),
                import_id=request.importId,
            )
        )
        return response


def _wrap_secrets(value: Any) -> Any:
    # Keep the engine's secret marks on recorded inputs, as Secret values tests can see.
    if rpc.is_rpc_secret(value):
        return Secret(_wrap_secrets(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, dict):
        return {k: _wrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap_secrets(v) for v in value]
    return value


def plain_assets(value: Any) -> Any:
    """Inputs with Pulumi's assets and archives as plain data: {"archive": {name: asset}}, and each
    asset as {"path": ...} or {"text": ...} (what the program packages, for tests and the scan)."""
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {name: plain_assets(asset) for name, asset in sorted(value.assets.items())}}
    if isinstance(value, pulumi.FileAsset):
        return {"path": str(value.path)}
    if isinstance(value, pulumi.StringAsset):
        return {"text": value.text}
    if isinstance(value, dict):
        return {k: plain_assets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_assets(v) for v in value]
    return value
