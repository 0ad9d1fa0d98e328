"""Shared fixtures: the dev and prod stacks evaluated once per session, and SSH keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from orthweb.evaluate import Evaluation, evaluate


def openssh_public(key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture(scope="session")
def empty_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HOME without ~/.ssh, so evaluations do not depend on the machine running them."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def ed25519_public_key() -> str:
    return openssh_public(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def rsa_public_key() -> str:
    return openssh_public(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def dev(empty_home: Path) -> Evaluation:
    return evaluate("dev", home=empty_home)


@pytest.fixture(scope="session")
def prod(empty_home: Path) -> Evaluation:
    return evaluate("prod", home=empty_home)


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest, dev: Evaluation, prod: Evaluation) -> Evaluation:
    return dev if request.param == "dev" else prod
