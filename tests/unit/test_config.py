"""Config validation: defaults work with no config; every bad value is one clear ConfigError."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orthweb.config.stack_config import ConfigError, default_options, load_config


def load(home: Path, **values: Any) -> Any:
    return load_config({f"orthweb:{k}": v for k, v in values.items()}, stack="test", home=home)


def test_no_config_at_all_gives_working_defaults(empty_home: Path) -> None:
    cfg = load_config({}, stack="test", home=empty_home)
    assert cfg.environment == "dev"
    assert cfg.vpc_cidr == "172.27.0.0/16"
    assert cfg.web_allowed_cidrs == ("0.0.0.0/0",)
    assert cfg.options == default_options()
    assert cfg.options.orthanc_replicas == 3
    assert cfg.public_key is None and cfg.public_key_source == "none"


def test_values_arrive_as_strings_from_the_engine(empty_home: Path) -> None:
    cfg = load(
        empty_home,
        deploymentOptions=json.dumps({"orthancReplicas": "5", "instanceType": "t3.large"}),
        webAllowedCidrs='["10.0.0.0/8", "192.168.1.0/24"]',
        environment="prod",
    )
    assert cfg.options.orthanc_replicas == 5
    assert cfg.options.instance_type == "t3.large"
    assert cfg.web_allowed_cidrs == ("10.0.0.0/8", "192.168.1.0/24")
    assert cfg.is_production


REJECTED: list[tuple[dict[str, Any], str, str]] = [
    ({"colour": "blue"}, "orthweb:colour", "unknown key"),
    ({"environment": "staging"}, "orthweb:environment", "one of dev, prod"),
    ({"vpcCidr": "172.27.0.0/33"}, "orthweb:vpcCidr", "not an IPv4 network in CIDR notation"),
    ({"vpcCidr": "8.8.0.0/16"}, "orthweb:vpcCidr", "8.8.0.0/16 is not a private range"),
    ({"vpcCidr": "10.0.0.0/8"}, "orthweb:vpcCidr", "a /8 is the wrong size: the VPC must be from /16 to /24"),
    ({"vpcCidr": "172.27.0.1/16"}, "orthweb:vpcCidr", "host bits are set: the network is 172.27.0.0/16"),
    ({"webAllowedCidrs": ["0.0.0.0/0", "300.1.1.0/24"]}, "orthweb:webAllowedCidrs", "not an IPv4 network"),
    ({"webAllowedCidrs": ["203.0.113.7/24"]}, "orthweb:webAllowedCidrs", "host bits are set: the network is 203.0"),
    ({"environmnet": "dev"}, "orthweb:environmnet", "did you mean 'environment'?"),
    (
        {"DeploymentOptions": {"EnvoyImg": "envoyproxy/envoy:v1.22.5", "InstanceType": "t2.medium"}},
        "orthweb:DeploymentOptions",
        "DeploymentOptions -> deploymentOptions, EnvoyImg -> envoyImage, InstanceType -> instanceType",
    ),
    (
        {"deploymentOptions": {"OrthancImg": "osimis/orthanc:22.11.3"}},
        "deploymentOptions.OrthancImg",
        "Terraform orthweb; here it is OrthancImg -> orthancImage",
    ),
    (
        {"deploymentOptions": {"instanceType": "t4g.nano", "orthancReplicas": 8}},
        "deploymentOptions.orthancReplicas",
        "8 replicas need about 3840 MiB (400 each, 128 for Envoy, 512 for the system) but t4g.nano has 512 MiB",
    ),
    (
        {"deploymentOptions": {"instanceType": "t4g.small", "orthancReplicas": 5}},
        "deploymentOptions.orthancReplicas",
        "use at most 3 replicas or a larger instance type",
    ),
    ({"dicomAllowedCidrs": "10.0.0.0/8"}, "orthweb:dicomAllowedCidrs", "list of IPv4 networks"),
    ({"dicomAllowedCidrs": []}, "orthweb:dicomAllowedCidrs", "non-empty list"),
    ({"secondaryState": "paused"}, "orthweb:secondaryState", "running, stopped"),
    ({"deploymentOptions": {"orthancImg": "x:1"}}, "deploymentOptions.orthancImg", "did you mean 'orthancImage'?"),
    ({"deploymentOptions": "{not json"}, "orthweb:deploymentOptions", "an object"),
    ({"deploymentOptions": {"instanceType": "t3.humongous"}}, "deploymentOptions.instanceType", "botocore"),
    ({"deploymentOptions": {"instanceType": "T3.medium"}}, "deploymentOptions.instanceType", "botocore"),
    ({"deploymentOptions": {"instanceType": "mac2.metal"}}, "deploymentOptions.instanceType", "arm64"),
    ({"deploymentOptions": {"orthancReplicas": 0}}, "deploymentOptions.orthancReplicas", "from 1 to 8"),
    ({"deploymentOptions": {"orthancReplicas": 9}}, "deploymentOptions.orthancReplicas", "from 1 to 8"),
    ({"deploymentOptions": {"orthancReplicas": "three"}}, "deploymentOptions.orthancReplicas", "integer"),
    ({"deploymentOptions": {"orthancReplicas": True}}, "deploymentOptions.orthancReplicas", "integer"),
    ({"deploymentOptions": {"orthancImage": "orthancteam/orthanc"}}, "deploymentOptions.orthancImage", "pinned"),
    ({"deploymentOptions": {"envoyImage": "envoyproxy/envoy:latest"}}, "deploymentOptions.envoyImage", "latest"),
    ({"deploymentOptions": {"dbInstanceClass": "t4g.small"}}, "deploymentOptions.dbInstanceClass", "db.t4g"),
    ({"deploymentOptions": {"dbEngineVersion": "17.2"}}, "deploymentOptions.dbEngineVersion", "major"),
    ({"deploymentOptions": {"dbEngineVersion": 12}}, "deploymentOptions.dbEngineVersion", "major"),
    ({"deploymentOptions": {"dbStorageGb": 50, "dbMaxStorageGb": 30}}, "dbMaxStorageGb", "at least"),
    ({"deploymentOptions": {"composeVersion": "v2"}}, "deploymentOptions.composeVersion", "2.29.7"),
    ({"siteDomain": "Not A Domain"}, "orthweb:siteDomain", "DNS name"),
    ({"siteCertificate": "-----BEGIN CERTIFICATE-----\nx\n"}, "orthweb:siteCertificateKey", "together"),
    ({"pubkeyData": "ssh-rsa notbase64"}, "orthweb:pubkeyData", "OpenSSH public key"),
    ({"deploymentOptions": {"logRetentionDays": 100}}, "deploymentOptions.logRetentionDays", "90, 120"),
    ({"alarmEmails": "oncall@example.org"}, "orthweb:alarmEmails", "list of e-mail addresses"),
    ({"alarmEmails": ["oncall@example.org", "not an address"]}, "orthweb:alarmEmails", "e-mail"),
    ({"alarmEmails": ["oncall@localhost"]}, "orthweb:alarmEmails", "e-mail"),
]


@pytest.mark.parametrize(("values", "key", "allowed"), REJECTED, ids=[r[1] + ":" + r[2] for r in REJECTED])
def test_each_invalid_value_is_one_line_naming_key_value_and_rule(
    empty_home: Path, values: dict[str, Any], key: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(empty_home, **values)
    message = str(caught.value)
    assert "\n" not in message
    assert key in message
    assert allowed in message
    assert "is invalid" in message


def test_other_namespaces_are_left_to_their_providers(empty_home: Path) -> None:
    cfg = load_config({"aws:region": "eu-west-1", "aws:profile": "x"}, stack="t", home=empty_home)
    assert cfg.region == "eu-west-1"
    with pytest.raises(ConfigError, match="aws:region"):
        load_config({"aws:region": "europe"}, stack="t", home=empty_home)


def test_an_unknown_option_name_with_a_line_break_stays_on_one_line(empty_home: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(empty_home, deploymentOptions={"bad\nname": 1})
    assert "\n" not in str(caught.value)
    assert "orthweb:deploymentOptions.bad\\nname = 1 is invalid: unknown option" in str(caught.value)


_KEYS = st.sampled_from(
    [
        "environment",
        "vpcCidr",
        "webAllowedCidrs",
        "dicomAllowedCidrs",
        "secondaryState",
        "siteDomain",
        "deploymentOptions",
        "pubkeyData",
        "nonsense",
    ]
)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(string.printable, max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=15), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(_KEYS, _JSONISH, min_size=1, max_size=4))
def test_random_config_is_accepted_or_rejected_never_a_crash(empty_home: Path, values: dict[str, Any]) -> None:
    try:
        load(empty_home, **values)
    except ConfigError as error:
        # Every problem is reported, one line each.
        assert str(error).splitlines() == [problem.line() for problem in error.problems]


def test_alarm_emails_arrive_as_a_json_list_and_keep_their_order(empty_home: Path) -> None:
    cfg = load(empty_home, alarmEmails='["pacs-oncall@hospital.example", "it@hospital.example", "it@hospital.example"]')
    assert cfg.alarm_emails == ("pacs-oncall@hospital.example", "it@hospital.example")
    assert load(empty_home).alarm_emails == ()


def test_log_retention_accepts_every_value_cloudwatch_accepts(empty_home: Path) -> None:
    from orthweb.shared.telemetry import LOG_RETENTION_DAYS

    for days in LOG_RETENTION_DAYS:
        assert load(empty_home, deploymentOptions={"logRetentionDays": days}).options.log_retention_days == days
