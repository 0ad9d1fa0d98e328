"""`dicomModalities`: the modalities every replica knows, checked before anything is created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orthweb.config import ConfigError, load_config
from orthweb.modalities import DicomModality


def modalities(value: object, home: Path) -> tuple[DicomModality, ...]:
    return load_config({"orthweb:dicomModalities": value}, stack="dev", home=home).dicom_modalities


def test_none_by_default(empty_home: Path) -> None:
    assert load_config({}, stack="dev", home=empty_home).dicom_modalities == ()


def test_a_list_as_the_engine_hands_it(empty_home: Path) -> None:
    given = json.dumps(["CT_1@10.20.0.15:104", "WS-2@192.0.2.7:11112"])
    assert modalities(given, empty_home) == (
        DicomModality("CT_1", "10.20.0.15", 104),
        DicomModality("WS-2", "192.0.2.7", 11112),
    )


@pytest.mark.parametrize(
    ("value", "key", "message"),
    [
        (["CT_1@pacs.example.org:104"], r"dicomModalities\[0\]", "IPv4 address"),
        (["CT 1@10.0.0.1:104"], r"dicomModalities\[0\]", "AE title"),
        (["ORTHANC@10.0.0.1:104"], r"dicomModalities\[0\]", "own AE title"),
        (["CT_1@10.0.0.1:65535"], r"dicomModalities\[0\]", "1 to 65534"),
        (["CT_1@127.0.0.1:104"], r"dicomModalities\[0\]", "not an address"),
        (["CT_1@10.0.0.1"], r"dicomModalities\[0\]", "AET@host:port"),
        (["A@10.0.0.1:104", "a@10.0.0.2:104"], "dicomModalities ", "twice"),
        ([f"M{i}@10.0.0.1:104" for i in range(21)], "dicomModalities ", "at most 20"),
        ("CT_1@10.0.0.1:104", "dicomModalities ", "a list"),
    ],
)
def test_mistakes_are_one_line_naming_the_entry(value: object, key: str, message: str, empty_home: Path) -> None:
    with pytest.raises(ConfigError, match=f"orthweb:{key}.*{message}") as caught:
        modalities(json.dumps(value), empty_home)
    assert "\n" not in str(caught.value)
