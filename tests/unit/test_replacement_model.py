"""The replacement model: force-new inputs that change, and replacements that reach dependents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orthweb.config.stack_config import load_config
from orthweb.evaluate.model import Evaluation, RecordedResource
from orthweb.evaluate.replacement import replaced

# A HOME without ~/.ssh: the config takes no key pair.
CONFIG = load_config({}, stack="t", home=Path("/nonexistent"))
KEY = "aws:kms/key:Key"
PARAMS = "aws:rds/parameterGroup:ParameterGroup"
DB = "aws:rds/instance:Instance"


def resource(token: str, name: str, inputs: dict[str, Any], depends: dict[str, str] | None = None) -> RecordedResource:
    return RecordedResource(
        urn=f"urn:{token}::{name}",
        type=token,
        name=name,
        parent=None,
        inputs=inputs,
        dependencies=(),
        property_dependencies={k: (f"urn:{t}",) for k, t in (depends or {}).items()},
        custom=True,
        id=name,
        state={},
    )


def graph(*, key_spec: str, family: str, db_name: str = "orthanc") -> Evaluation:
    resources = [
        resource(KEY, "key", {"customerMasterKeySpec": key_spec, "description": "x"}),
        resource(PARAMS, "params", {"family": family}),
        resource(
            DB,
            "db",
            {"kmsKeyId": "arn:key", "parameterGroupName": "params", "dbName": db_name},
            depends={"kmsKeyId": f"{KEY}::key", "parameterGroupName": f"{PARAMS}::params"},
        ),
    ]
    return Evaluation(stack="t", config=CONFIG, resources=resources, outputs={})


def test_nothing_changes_nothing_is_replaced() -> None:
    assert (
        replaced(
            graph(key_spec="SYMMETRIC_DEFAULT", family="postgres17"),
            graph(key_spec="SYMMETRIC_DEFAULT", family="postgres17"),
        )
        == []
    )


def test_a_replaced_key_replaces_what_it_encrypts_at_creation() -> None:
    before = graph(key_spec="SYMMETRIC_DEFAULT", family="postgres17")
    after = graph(key_spec="RSA_2048", family="postgres17")
    assert replaced(before, after) == ["key", "db"]


def test_a_replaced_parameter_group_is_swapped_in_place() -> None:
    before = graph(key_spec="SYMMETRIC_DEFAULT", family="postgres16")
    after = graph(key_spec="SYMMETRIC_DEFAULT", family="postgres17")
    assert replaced(before, after) == ["params"]


def test_a_changed_force_new_input_replaces_its_resource() -> None:
    before = graph(key_spec="SYMMETRIC_DEFAULT", family="postgres17")
    after = graph(key_spec="SYMMETRIC_DEFAULT", family="postgres17", db_name="other")
    assert replaced(before, after) == ["db"]
