"""Config of DICOMweb and the web viewers: on by default, each value checked, no viewer without DICOMweb."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orthweb.config.stack_config import ConfigError, load_config
from orthweb.shared.constants import OHIF, STONE, VIEWERS


def options(home: Path, **values: Any) -> Any:
    return load_config({"orthweb:deploymentOptions": json.dumps(values)}, stack="test", home=home).options


def test_dicomweb_and_both_viewers_are_on_by_default(empty_home: Path) -> None:
    defaults = load_config({}, stack="test", home=empty_home).options
    assert defaults.dicom_web is True
    assert defaults.viewers == VIEWERS == (OHIF, STONE)


@pytest.mark.parametrize(
    ("values", "dicom_web", "viewers"),
    [
        ({"viewers": ["stone"]}, True, (STONE,)),
        ({"viewers": []}, True, ()),
        ({"dicomWeb": False, "viewers": []}, False, ()),
        # `pulumi config set --path` may store booleans as text.
        ({"dicomWeb": "false", "viewers": "[]"}, False, ()),
        ({"dicomWeb": "True"}, True, VIEWERS),
    ],
)
def test_accepted_values(empty_home: Path, values: dict[str, Any], dicom_web: bool, viewers: tuple[str, ...]) -> None:
    chosen = options(empty_home, **values)
    assert (chosen.dicom_web, chosen.viewers) == (dicom_web, viewers)


@pytest.mark.parametrize(
    ("values", "key", "allowed"),
    [
        ({"dicomWeb": "yes"}, "deploymentOptions.dicomWeb", "true or false"),
        ({"dicomWeb": 1}, "deploymentOptions.dicomWeb", "true or false"),
        ({"viewers": ["osirix"]}, "deploymentOptions.viewers", "among ohif, stone"),
        ({"viewers": "ohif"}, "deploymentOptions.viewers", "a list"),
        ({"viewers": ["ohif", "ohif"]}, "deploymentOptions.viewers", "distinct"),
        ({"dicomWeb": False}, "deploymentOptions.viewers", "read studies over DICOMweb"),
        ({"dicomWeb": False, "viewers": ["stone"]}, "deploymentOptions.viewers", "[] while dicomWeb is false"),
    ],
)
def test_rejected_values_name_the_key_and_what_is_allowed(
    empty_home: Path, values: dict[str, Any], key: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        options(empty_home, **values)
    message = str(caught.value)
    assert f"config orthweb:{key} = " in message
    assert allowed in message
    assert "\n" not in message
