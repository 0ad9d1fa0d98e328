"""Turn an offline `Evaluation` into a Terraform plan JSON document that checkov scans.

pulumi-aws is bridged from the Terraform AWS provider, so a resource's Terraform attributes are
its Pulumi inputs in snake_case, with a few renames (see types.py). What the conversion adds is
what Terraform's plan would show:

- nested objects become one-element lists (Terraform blocks), maps such as `tags` stay objects;
- a value that *is* another resource's output (its id, ARN, name, ...) is unknown at plan time:
  it is left out of `planned_values` and appears as `references` in `configuration`, e.g.
  `["aws_s3_bucket.orthweb_storage_dicom.id", "aws_s3_bucket.orthweb_storage_dicom"]` — that is
  what connects a bucket to its public-access block in checkov's graph;
- a value merely *built from* outputs (a policy document naming an ARN) keeps its content so
  checkov reads it, and lists the resources it names as references;
- secret values become a placeholder; numbers that are whole become integers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orthweb.evaluate import DEFAULT_REGION, Evaluation, RecordedResource, Secret
from orthweb.ops.compliance.types import MAP_ATTRIBUTES, TerraformType, UnmappedTypeError, is_component, terraform_type

FORMAT_VERSION = "1.2"
# The Terraform release whose plan format this imitates (any 1.x reads the same way to checkov).
TERRAFORM_VERSION = "1.9.8"
SECRET_PLACEHOLDER = "[secret]"
# Shorter outputs ("vpc", "gp3") would match ordinary text inside composite values.
MIN_EMBEDDED_LENGTH = 8


class _Unknown:
    """A value Terraform could only know after apply."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Reference:
    address: str
    attribute: str

    def expression(self) -> list[str]:
        return [f"{self.address}.{self.attribute}", self.address]


@dataclass(frozen=True)
class _Converted:
    value: Any  # UNKNOWN when Terraform would not know it at plan time
    expression: Any  # {"references": [...]}, {"constant_value": ...}, or nested for blocks
    unknown: Any  # the plan's `after_unknown` shape for this value


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def address_name(pulumi_name: str) -> str:
    """A Terraform resource name: letters, digits, underscores and dashes; ours use underscores."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", pulumi_name)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def addresses(evaluation: Evaluation) -> dict[str, str]:
    """Terraform address of every resource that goes into the plan, by URN."""
    found: dict[str, str] = {}
    unmapped: list[str] = []
    for resource in evaluation.resources:
        if not resource.custom or is_component(resource.type):
            continue
        try:
            mapped = terraform_type(resource.type)
        except UnmappedTypeError:
            unmapped.append(resource.type)
            continue
        if mapped is not None:
            found[resource.urn] = f"{mapped.name}.{address_name(resource.name)}"
    if unmapped:
        raise UnmappedTypeError(sorted(set(unmapped)))
    duplicates = sorted({a for a in found.values() if list(found.values()).count(a) > 1})
    if duplicates:
        raise ValueError(f"two resources would share a Terraform address: {', '.join(duplicates)}")
    return found


def _outputs_of(resource: RecordedResource, address: str) -> list[tuple[str, Reference]]:
    """(value, reference) for the values other resources may take from `resource`: its id first,
    then what the provider computed (ARN, name, ...), never what the program itself gave it."""
    pairs: list[tuple[str, Reference]] = []
    if resource.id:
        pairs.append((resource.id, Reference(address, "id")))
    computed = sorted(
        (k for k, v in resource.state.items() if k not in resource.inputs and isinstance(v, str) and v),
        key=lambda k: (k != "arn", k),
    )
    pairs.extend((resource.state[k], Reference(address, snake_case(k))) for k in computed)
    return pairs


class _ResourceConverter:
    def __init__(self, mapped: TerraformType, candidates: dict[str, list[tuple[str, Reference]]]) -> None:
        self.mapped = mapped
        self.candidates = candidates  # top-level input name -> outputs it may reference

    def attribute(self, key: str) -> str:
        return self.mapped.renames.get(key) or snake_case(key)

    def block(self, inputs: dict[str, Any], top: str | None) -> _Converted:
        values: dict[str, Any] = {}
        expressions: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        for key, raw in inputs.items():
            name = self.attribute(key)
            converted = self.value(key, raw, top or key)
            if converted.value is not UNKNOWN:
                values[name] = converted.value
            if converted.expression is not None:
                expressions[name] = converted.expression
            if converted.unknown not in (False, None, [], {}):
                unknown[name] = converted.unknown
        return _Converted(values, expressions, unknown)

    def value(self, key: str, raw: Any, top: str) -> _Converted:
        if isinstance(raw, Secret):
            return _Converted(SECRET_PLACEHOLDER, None, False)
        if isinstance(raw, dict):
            if key in MAP_ATTRIBUTES:
                plain = {k: self.scalar(v) for k, v in raw.items()}
                return _Converted(plain, {"constant_value": plain}, False)
            inner = self.block(raw, top)
            return _Converted([inner.value], [inner.expression], [inner.unknown] if inner.unknown else False)
        if isinstance(raw, list | tuple):
            if any(isinstance(item, dict) for item in raw):
                blocks = [self.block(item, top) for item in raw if isinstance(item, dict)]
                unknowns = [b.unknown for b in blocks]
                return _Converted(
                    [b.value for b in blocks],
                    [b.expression for b in blocks],
                    unknowns if any(unknowns) else False,
                )
            items = [self.value(key, item, top) for item in raw]
            references = _flatten(i.expression.get("references", []) for i in items if i.expression)
            if any(i.value is UNKNOWN for i in items):
                return _Converted(UNKNOWN, {"references": references}, True)
            plain_items = [i.value for i in items]
            if references:
                return _Converted(plain_items, {"references": references}, False)
            return _Converted(plain_items, {"constant_value": plain_items}, False)
        value = self.scalar(raw)
        if isinstance(value, str):
            outputs = self.candidates.get(top, [])
            for output, reference in outputs:
                if value == output:
                    return _Converted(UNKNOWN, {"references": reference.expression()}, True)
            embedded: dict[str, Reference] = {}
            # Longest first: a bucket's ARN contains its name; name the ARN once per resource.
            for output, reference in sorted(outputs, key=lambda pair: -len(pair[0])):
                if len(output) >= MIN_EMBEDDED_LENGTH and output in value:
                    embedded.setdefault(reference.address, reference)
            if embedded:
                return _Converted(value, {"references": _flatten(r.expression() for r in embedded.values())}, False)
        return _Converted(value, {"constant_value": value}, False)

    @staticmethod
    def scalar(raw: Any) -> Any:
        if isinstance(raw, Secret):
            return SECRET_PLACEHOLDER
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        return raw


def _flatten(groups: Iterable[list[str]]) -> list[str]:
    return list(dict.fromkeys(item for group in groups for item in group))


def terraform_plan(evaluation: Evaluation) -> dict[str, Any]:
    """The plan JSON (`terraform show -json` format) of everything the program would create."""
    by_urn = {r.urn: r for r in evaluation.resources}
    found = addresses(evaluation)
    outputs = {urn: _outputs_of(by_urn[urn], address) for urn, address in found.items()}

    planned: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    configured: list[dict[str, Any]] = []
    for urn, address in found.items():
        resource = by_urn[urn]
        mapped = terraform_type(resource.type)
        assert mapped is not None  # addresses() holds mapped types only
        candidates: dict[str, list[tuple[str, Reference]]] = {}
        for key in resource.inputs:
            # An input the engine reported no dependencies for (a test's mutation) may use any.
            sources = resource.property_dependencies.get(key, resource.dependencies)
            candidates[key] = [pair for source in sources if source in outputs for pair in outputs[source]]
        converted = _ResourceConverter(mapped, candidates).block(resource.inputs, None)
        tf_type, name = address.split(".", 1)
        header = {"address": address, "mode": "managed", "type": tf_type, "name": name}
        planned.append({**header, "provider_name": mapped.provider, "schema_version": 0, "values": converted.value})
        changes.append(
            {
                **header,
                "provider_name": mapped.provider,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": converted.value,
                    "after_unknown": converted.unknown,
                },
            }
        )
        configured.append(
            {
                **header,
                "provider_config_key": mapped.provider.rsplit("/", 1)[-1],
                "expressions": converted.expression,
                "schema_version": 0,
            }
        )
    region = evaluation.config.region or DEFAULT_REGION
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                "aws": {
                    "name": "aws",
                    "full_name": "registry.terraform.io/hashicorp/aws",
                    "expressions": {"region": {"constant_value": region}},
                }
            },
            "root_module": {"resources": configured},
        },
    }
