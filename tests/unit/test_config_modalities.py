"""`dicomModalities`: the modalities every replica knows, checked before anything is created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orthweb.config.stack_config import ConfigError, load_config
from orthweb.shared.modalities import DicomModality


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


# --- dicomClientCertificates ---------------------------------------------------------------------


def test_client_certificates_are_off_by_default_and_a_flag(empty_home: Path) -> None:
    assert load_config({}, stack="dev", home=empty_home).dicom_client_certificates is False
    for given in (True, "true", "TRUE"):
        assert load_config(
            {"orthweb:dicomClientCertificates": given}, stack="dev", home=empty_home
        ).dicom_client_certificates


@pytest.mark.parametrize("value", ["yes", 1, "on", ["true"]])
def test_client_certificates_take_true_or_false_only(value: object, empty_home: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config orthweb:dicomClientCertificates = .* is invalid: true or false$"):
        load_config({"orthweb:dicomClientCertificates": value}, stack="dev", home=empty_home)


def test_client_certificates_need_tls_to_end_at_envoy(empty_home: Path) -> None:
    """With hostedZoneId the load balancer ends TLS (ACM) and Envoy never sees the certificate."""
    values = {
        "orthweb:topology": "scale-out",
        "orthweb:siteDomain": "pacs.example.org",
        "orthweb:hostedZoneId": "Z0123456789ABCDEFGHIJ",
        "orthweb:dicomClientCertificates": True,
    }
    with pytest.raises(ConfigError, match=r"dicomClientCertificates.*load balancer then ends TLS") as caught:
        load_config(values, stack="dev", home=empty_home)
    assert "\n" not in str(caught.value)
    # Passed through to Envoy (no hostedZoneId), TLS ends there: accepted.
    del values["orthweb:hostedZoneId"]
    assert load_config(values, stack="dev", home=empty_home).dicom_client_certificates


@pytest.mark.parametrize(
    ("values", "warned"),
    [
        ({"environment": "prod"}, True),
        ({"environment": "prod", "dicomAllowedCidrs": ["10.0.0.0/8", "0.0.0.0/0"]}, True),
        ({"environment": "prod", "dicomAllowedCidrs": ["10.20.0.0/16"]}, False),
        ({"environment": "prod", "dicomClientCertificates": True}, False),
        ({"environment": "dev"}, False),
    ],
)
def test_a_prod_stack_open_to_the_internet_without_certificates_is_warned(
    values: dict[str, object], warned: bool, empty_home: Path
) -> None:
    config = load_config({f"orthweb:{k}": v for k, v in values.items()}, stack="prod", home=empty_home)
    found = [w for w in config.warnings if "dicomAllowedCidrs" in w]
    assert bool(found) == warned, config.warnings
    if found:
        assert "0.0.0.0/0" in found[0] and "dicomClientCertificates" in found[0] and "\n" not in found[0]
