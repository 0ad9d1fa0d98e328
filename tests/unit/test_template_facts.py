"""The templates spell no port, host path or Envoy cluster name of their own: they take each from the
constant they are rendered with (orthweb/host/render.py passes them), so the program, verify, the
harness and the rendered files cannot disagree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orthweb.host.layout import (
    APP_DIR,
    DRAIN_DIR,
    ENVOY_ADMIN_PORT,
    ORTHANC_DICOM_PORT,
    ORTHANC_HTTP_PORT,
    SECRETS_DIR,
)
from orthweb.host.render import TEMPLATES_DIR
from orthweb.shared import telemetry
from orthweb.shared.constants import DICOM_TLS_PORT, HTTPS_PORT, LB_HEALTH_PORT, POSTGRES_PORT

PORTS = (HTTPS_PORT, DICOM_TLS_PORT, ORTHANC_HTTP_PORT, ORTHANC_DICOM_PORT, ENVOY_ADMIN_PORT, LB_HEALTH_PORT)
FACTS = (
    *(str(port) for port in (*PORTS, POSTGRES_PORT, telemetry.METRICS_PORT)),
    APP_DIR,
    SECRETS_DIR,
    DRAIN_DIR,
    telemetry.HTTP_CLUSTER,
    telemetry.DICOM_CLUSTER,
)


def spelled(fact: str, text: str) -> list[int]:
    """The lines of `text` that write `fact` as a whole word (a number inside a longer one does not count)."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(fact)}(?![\w])")
    return [number for number, line in enumerate(text.splitlines(), 1) if pattern.search(line)]


@pytest.mark.parametrize("template", sorted(TEMPLATES_DIR.glob("*.j2")), ids=lambda path: path.name)
def test_no_template_spells_a_fact_it_is_rendered_with(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    found = {fact: lines for fact in FACTS if (lines := spelled(fact, text))}
    assert found == {}, f"{template.name}: write these from the render context instead"


def test_a_spelled_fact_is_found() -> None:
    assert spelled("8042", 'expose: ["8042", "4242"]') == [1]
    assert spelled("orthanc_http", "route: { cluster: orthanc_http }\nstat: orthanc_https") == [1]
    assert spelled("443", "port_value: {{ https_port }}\nport: 4430") == []
