"""Config of sign-in: basic by default; `sso` needs admin addresses and a prefix Cognito accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orthweb.config.stack_config import ConfigError, SsoSettings, load_config
from orthweb.shared import sso

ADMINS = ["pacs-admin@example.org", "radiology-lead@example.org"]


def load(home: Path, stack: str = "test", **values: Any) -> Any:
    return load_config({f"orthweb:{k}": v for k, v in values.items()}, stack=stack, home=home)


def test_basic_is_the_default_and_what_the_engine_hands_over_when_unset(empty_home: Path) -> None:
    assert load(empty_home).authentication == sso.BASIC
    # Pulumi.yaml's defaults arrive as values: they must mean "not set".
    chosen = load(empty_home, authentication="basic", ssoAdminEmails="[]", ssoDomainPrefix="")
    assert chosen.sso is None and chosen.authentication == sso.BASIC


def test_sso_keeps_the_admins_in_order_and_leaves_the_prefix_to_the_program(empty_home: Path) -> None:
    chosen = load(empty_home, authentication="sso", ssoAdminEmails=json.dumps(ADMINS))
    assert chosen.authentication == sso.SSO
    assert chosen.sso == SsoSettings(admin_emails=tuple(ADMINS), domain_prefix=None)


def test_a_chosen_prefix_is_kept(empty_home: Path) -> None:
    chosen = load(empty_home, authentication="sso", ssoAdminEmails=ADMINS, ssoDomainPrefix="st-mary-pacs")
    assert chosen.sso is not None and chosen.sso.domain_prefix == "st-mary-pacs"


REJECTED: list[tuple[dict[str, Any], str, str]] = [
    ({"authentication": "oidc"}, "orthweb:authentication", "one of basic, sso"),
    ({"authentication": "sso"}, "orthweb:ssoAdminEmails", "at least one address with authentication = sso"),
    ({"authentication": "sso", "ssoAdminEmails": "[]"}, "orthweb:ssoAdminEmails", "at least one address"),
    ({"authentication": "sso", "ssoAdminEmails": ["not-an-address"]}, "orthweb:ssoAdminEmails", "e-mail"),
    (
        {"authentication": "sso", "ssoAdminEmails": ["a@example.org", "A@Example.org"]},
        "orthweb:ssoAdminEmails",
        "distinct addresses (Cognito ignores case)",
    ),
    ({"ssoAdminEmails": ADMINS}, "orthweb:ssoAdminEmails", "only with authentication = sso (it is basic)"),
    ({"ssoDomainPrefix": "pacs"}, "orthweb:ssoDomainPrefix", "only with authentication = sso"),
    (
        {"authentication": "sso", "ssoAdminEmails": ADMINS, "ssoDomainPrefix": "Pacs"},
        "orthweb:ssoDomainPrefix",
        "lower-case letters, digits and hyphens",
    ),
    (
        {"authentication": "sso", "ssoAdminEmails": ADMINS, "ssoDomainPrefix": "-pacs"},
        "orthweb:ssoDomainPrefix",
        "not starting or ending with a hyphen",
    ),
    (
        {"authentication": "sso", "ssoAdminEmails": ADMINS, "ssoDomainPrefix": "x" * 64},
        "orthweb:ssoDomainPrefix",
        "1 to 63",
    ),
    (
        {"authentication": "sso", "ssoAdminEmails": ADMINS, "ssoDomainPrefix": "my-amazonpacs"},
        "orthweb:ssoDomainPrefix",
        "it contains 'amazon'",
    ),
    (
        {"authentication": "sso", "ssoAdminEmails": ADMINS, "ssoDomainPrefix": "pacs-cognito"},
        "orthweb:ssoDomainPrefix",
        "it contains 'cognito'",
    ),
]


@pytest.mark.parametrize(("values", "key", "hint"), REJECTED)
def test_bad_sign_in_settings_are_one_line_naming_the_key(
    empty_home: Path, values: dict[str, Any], key: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(empty_home, **values)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"config {key} = ")
    assert hint in message


def test_a_stack_name_with_a_reserved_word_needs_a_prefix_of_its_own(empty_home: Path) -> None:
    with pytest.raises(ConfigError, match="contains Cognito's reserved word 'aws'"):
        load(empty_home, stack="aws-lab", authentication="sso", ssoAdminEmails=ADMINS)
    chosen = load(empty_home, stack="aws-lab", authentication="sso", ssoAdminEmails=ADMINS, ssoDomainPrefix="lab-pacs")
    assert chosen.sso is not None


# No deadline: the machine running the tests may be busy; the property is what matters.
@settings(deadline=None)
@given(st.from_regex(r"[a-z0-9-]{1,70}", fullmatch=True))
def test_a_prefix_passes_exactly_when_cognito_would_take_it(prefix: str) -> None:
    # CreateUserPoolDomain's pattern and length, and its "reserved word" refusal.
    cognito_accepts = (
        len(prefix) <= 63
        and not prefix.startswith("-")
        and not prefix.endswith("-")
        and not any(word in prefix for word in ("aws", "amazon", "cognito"))
    )
    assert (sso.domain_prefix_reason(prefix) is None) == cognito_accepts


def test_the_generated_prefix_fits_for_the_longest_stack_name() -> None:
    longest = sso.default_prefix_start("s" * 20) + "a" * sso.PREFIX_SUFFIX_LENGTH
    assert sso.domain_prefix_reason(longest) is None
