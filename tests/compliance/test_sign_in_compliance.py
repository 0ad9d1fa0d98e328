"""Sign-in (`authentication: sso`) under compliance as code: every Cognito type is mapped, checkov
finds nothing on an sso stack, and a skip can be limited to the sign-in mode whose resources it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from orthweb.evaluate import Evaluation, evaluate
from orthweb.ops.compliance.scan import Report, scan
from orthweb.ops.compliance.skips import Skip, SkipsFileError, load_skips
from orthweb.ops.compliance.types import EXCLUDED_TYPES, TERRAFORM_TYPES, is_component
from orthweb.shared import sso
from tests.compliance.expected_skips import EXPECTED_SKIPS, skipped

pytestmark = pytest.mark.compliance


@pytest.fixture(scope="module")
def sso_dev(empty_home: Path) -> Evaluation:
    return evaluate("dev", {"authentication": "sso", "ssoAdminEmails": ["pacs-admin@example.org"]}, home=empty_home)


@pytest.fixture(scope="module")
def sso_report(checkov: Path, sso_dev: Evaluation) -> Report:
    return scan(sso_dev, checkov=checkov)


def test_every_cognito_type_is_mapped(sso_dev: Evaluation) -> None:
    used = {r.type for r in sso_dev.resources if not is_component(r.type)}
    assert {t for t in used if t.startswith("aws:cognito/")} >= {
        "aws:cognito/userPool:UserPool",
        "aws:cognito/userPoolClient:UserPoolClient",
        "aws:cognito/userPoolDomain:UserPoolDomain",
    }
    assert sorted(used - TERRAFORM_TYPES.keys() - EXCLUDED_TYPES.keys()) == []


def test_an_sso_stack_fails_nothing_and_uses_every_skip_it_expects(sso_report: Report) -> None:
    assert [f"{r.id} {r.resource}" for r in sso_report.failed] == []
    assert sso_report.unused_skips == []
    assert skipped(sso_report) == EXPECTED_SKIPS["dev, sign-in"]
    sign_in_secrets = {r.result.resource for r in sso_report.skipped if "sign_in" in r.result.resource}
    assert sign_in_secrets == {
        f"aws_secretsmanager_secret.orthweb_sign_in_{role.replace('-', '_')}"
        for role in (sso.SITE_CLIENT_ROLE, sso.MACHINE_CLIENT_ROLE)
    }


def test_a_sign_in_skip_is_expected_only_where_its_resources_exist() -> None:
    (entry,) = [s for s in load_skips() if s.authentications == (sso.SSO,)]
    assert entry.expected("dev", "failover", sso.SSO)
    assert not entry.expected("dev", "failover", sso.BASIC)
    plain = Skip("CKV_AWS_88", ("aws_instance.a",), "why")
    assert plain.expected("prod", "failover", sso.SSO) and plain.expected("prod", "failover", sso.BASIC)


def test_an_unknown_sign_in_mode_in_the_skips_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "skips.yaml"
    path.write_text(
        "skips:\n  - {id: CKV_AWS_88, resources: [aws_instance.a], reason: why, authentications: [oidc]}\n",
        encoding="utf-8",
    )
    with pytest.raises(SkipsFileError, match="authentications must be a list drawn from"):
        load_skips(path)
