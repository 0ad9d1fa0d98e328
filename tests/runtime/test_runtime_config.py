"""The harness runs the rendered orthanc.json almost unchanged: check what it had to leave out."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tools.harness import OVERLAY_KEYS, UNSUPPORTED_BY_DEBIAN, Stack
from tools.harness.orthanc import ORTHANC_BINARY
from tools.harness.stack import AWKWARD_PASSWORD_CHARACTERS

pytestmark = pytest.mark.runtime

# Sections read by plugins; the harness loads the PostgreSQL index and DICOMweb plugins only.
PLUGIN_SECTIONS = {"PostgreSQL", "AwsS3Storage", "OrthancExplorer2", "DicomWeb"}


def test_rendered_keys_are_known_to_debian_orthanc(rendered: dict[str, str], tmp_path: Path) -> None:
    """Orthanc ignores unknown keys silently: compare with the keys 1.10.1 itself documents."""
    default = tmp_path / "default.json"
    subprocess.run([str(ORTHANC_BINARY), f"--config={default}"], check=True, timeout=30)
    known = set(re.findall(r'^\s*"(\w+)"\s*:', default.read_text(), flags=re.M))
    config = json.loads(rendered["orthanc.json"])
    unknown = set(config) - known - PLUGIN_SECTIONS
    assert unknown <= {key.split(".")[0] for key in UNSUPPORTED_BY_DEBIAN}, unknown


def test_every_replica_runs_the_rendered_config_plus_the_overlay(stack: Stack) -> None:
    rendered = json.loads(stack.rendered["orthanc.json"])
    for replica in stack.replicas:
        changed = {key for key in rendered if rendered[key] != replica.config.get(key)}
        # Sections with dropped keys (and secret settings): compared key by key below.
        partly_dropped = {key.split(".")[0] for key in UNSUPPORTED_BY_DEBIAN if "." in key}
        changed -= partly_dropped
        dropped = {key for key in UNSUPPORTED_BY_DEBIAN if "." not in key}
        assert changed <= {key.split(".")[0] for key in OVERLAY_KEYS} | dropped, changed
        for section in partly_dropped & set(rendered):
            for key, value in rendered[section].items():
                if f"{section}.{key}" not in UNSUPPORTED_BY_DEBIAN:
                    assert replica.config[section][key] == value, f"{section}.{key}"
        status, _, body = stack.request("/system", credential=stack.admin, base=replica.base_url)
        assert status == 200 and json.loads(body)["Name"] == replica.name


def test_replicas_reach_the_database_with_an_awkward_password(stack: Stack) -> None:
    """The harness's database password holds every character that breaks a libpq keyword string."""
    assert stack.postgres is not None
    assert set(AWKWARD_PASSWORD_CHARACTERS) <= set(stack.postgres.password)
    assert stack.postgres.password.startswith("'")
    for replica in stack.replicas:
        # /changes reads the index: the replica holds working database connections.
        assert stack.request("/changes?last", credential=stack.admin, base=replica.base_url)[0] == 200
