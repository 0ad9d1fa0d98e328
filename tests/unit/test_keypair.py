"""The four key-pair rules (those of the Terraform orthweb), and what counts as an acceptable public key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from orthweb.config.problems import ConfigError
from orthweb.config.stack_config import load_config
from orthweb.infra.ssh_key import resolve_public_key
from tests.conftest import openssh_public


def write_default_key(home: Path, text: str) -> Path:
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    path = home / ".ssh" / "id_rsa.pub"
    path.write_text(text + "\n")
    return path


def test_rule_1_pubkey_data_wins_over_everything(tmp_path: Path, ed25519_public_key: str, rsa_public_key: str) -> None:
    key_file = tmp_path / "other.pub"
    key_file.write_text(rsa_public_key)
    write_default_key(tmp_path, rsa_public_key)
    key = resolve_public_key(data=ed25519_public_key, path=str(key_file), home=tmp_path)
    assert key is not None and key.material == ed25519_public_key and key.source == "pubkeyData"


def test_rule_2_pubkey_path_when_no_data(tmp_path: Path, ed25519_public_key: str, rsa_public_key: str) -> None:
    key_file = tmp_path / "mine.pub"
    key_file.write_text(rsa_public_key + "\n")
    write_default_key(tmp_path, ed25519_public_key)
    key = resolve_public_key(data=None, path=str(key_file), home=tmp_path)
    assert key is not None and key.material == rsa_public_key and key.source == f"pubkeyPath:{key_file}"


def test_rule_3_default_file_when_neither_is_set(tmp_path: Path, rsa_public_key: str) -> None:
    path = write_default_key(tmp_path, rsa_public_key)
    key = resolve_public_key(data=None, path=None, home=tmp_path)
    assert key is not None and key.material == rsa_public_key and key.source == f"default:{path}"


def test_rule_4_no_key_at_all(tmp_path: Path) -> None:
    assert resolve_public_key(data=None, path=None, home=tmp_path) is None


def test_unreadable_pubkey_path_names_the_key_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative, so the whole path fits in the message however deep the test's directory is.
    monkeypatch.chdir(tmp_path)
    missing = Path("missing.pub")
    with pytest.raises(ConfigError) as caught:
        load_config({"orthweb:pubkeyPath": str(missing)}, stack="t", home=tmp_path)
    assert "orthweb:pubkeyPath" in str(caught.value) and str(missing) in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "not a key",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== truncated",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ],
)
def test_non_openssh_material_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        resolve_public_key(data=text, path=None, home=tmp_path)


def test_key_types_ec2_cannot_import_are_refused(tmp_path: Path) -> None:
    ecdsa = openssh_public(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ConfigError, match="does not import"):
        resolve_public_key(data=ecdsa, path=None, home=tmp_path)
    weak = openssh_public(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ConfigError, match="1024 bits"):
        resolve_public_key(data=weak, path=None, home=tmp_path)


def test_a_broken_default_file_is_reported_not_ignored(tmp_path: Path) -> None:
    path = write_default_key(tmp_path, "garbage")
    with pytest.raises(ConfigError) as caught:
        resolve_public_key(data=None, path=None, home=tmp_path)
    assert caught.value.problems[0].key == "pubkeyPath" and caught.value.problems[0].value == str(path)
