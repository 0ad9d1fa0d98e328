"""The hosts' version label is a digest of the templates' content, not of git history.

In a shallow clone `git log -- <path>` answers HEAD for every path, so a history-based pin changed
user data (and replaced both hosts) on every deploy from CI.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orthweb.host.digest import TEMPLATES_DIR, templates_digest


def test_the_digest_depends_on_content_only(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "templates"
    shutil.copytree(TEMPLATES_DIR, copy)  # no .git anywhere above it
    assert templates_digest.__wrapped__(copy) == templates_digest()
    assert len(templates_digest()) == 16


def test_changing_a_template_changes_the_digest(tmp_path: Path) -> None:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, copy)
    before = templates_digest.__wrapped__(copy)
    envoy = copy / "envoy.yaml.j2"
    envoy.write_text(envoy.read_text() + "\n# changed\n")
    assert templates_digest.__wrapped__(copy) != before


def test_renaming_a_template_changes_the_digest(tmp_path: Path) -> None:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, copy)
    before = templates_digest.__wrapped__(copy)
    (copy / "start.sh.j2").rename(copy / "begin.sh.j2")
    assert templates_digest.__wrapped__(copy) != before
