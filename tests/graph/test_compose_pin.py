"""The docker compose plugin the hosts install is checked against a digest pinned in the program."""

from __future__ import annotations

import re
from pathlib import Path

from orthweb.config.stack_config import default_options
from orthweb.evaluate import Evaluation, evaluate
from orthweb.evaluate.host_files import host_files
from orthweb.shared.constants import COMPOSE_SHA256


def test_the_default_release_has_a_digest_for_each_architecture() -> None:
    digests = COMPOSE_SHA256[default_options().compose_version]
    assert set(digests) == {"x86_64", "aarch64"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in digests.values())


def test_each_host_checks_the_download_against_the_pinned_digest(stack: Evaluation) -> None:
    digests = COMPOSE_SHA256[stack.config.options.compose_version]
    for files in host_files(stack).values():
        installer = files["install-compose.sh"].content
        assert f'x86_64) arch=x86_64; pinned_sha256="{digests["x86_64"]}"' in installer
        assert f'aarch64) arch=aarch64; pinned_sha256="{digests["aarch64"]}"' in installer
    assert not any("composeVersion" in warning for warning in stack.config.warnings)


def test_a_release_without_a_pinned_digest_is_named_in_a_warning(empty_home: Path) -> None:
    other = evaluate("dev", {"deploymentOptions": {"composeVersion": "2.30.0"}}, home=empty_home)
    (warning,) = [w for w in other.config.warnings if "composeVersion" in w]
    assert "2.30.0 has no SHA-256 pinned" in warning and "checksum file" in warning
    installer = host_files(other)["primary"]["install-compose.sh"].content
    assert 'pinned_sha256=""' in installer
