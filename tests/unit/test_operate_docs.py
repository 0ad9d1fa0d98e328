"""README's "Operate it" section says what the program does: every alarm, its metric and its window,
the log groups, and the access-log fields."""

from __future__ import annotations

import re

import pytest

from orthweb.evaluate import PROJECT_ROOT
from orthweb.infra.alarm_plan import ABOVE, AT_MOST, AlarmRule, HostToWatch, stack_rules
from orthweb.shared import telemetry

AT_LEAST = "\N{GREATER-THAN OR EQUAL TO}"
AT_MOST_SIGN = "\N{LESS-THAN OR EQUAL TO}"
README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Operate it", 1)[1].split("\n## ", 1)[0]
RULES = stack_rules(
    stack="dev",
    hosts=[HostToWatch("primary", "i-1", True)],
    replicas=3,
    recover_hosts=True,
    db_identifier="db",
    db_instance_class="db.t4g.small",
    db_storage_gb=20,
    load_balancer=("lb", {"https": "tg"}),
    vpn_id="vpn-1",
)


def documented_key(rule: AlarmRule[str]) -> str:
    return rule.key.replace("primary-", "<host>-").replace("nlb-https-", "nlb-<listener>-")


def row(key: str) -> str:
    rows = [line for line in SECTION.splitlines() if line.startswith(f"| `{key}`")]
    assert len(rows) == 1, f"README's alarm table has {len(rows)} rows for {key}"
    return rows[0]


def window(rule: AlarmRule[str]) -> str:
    minutes = rule.period_seconds // 60
    unit = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
    return f"{rule.evaluation_periods} \N{MULTIPLICATION SIGN} {unit}"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.key)
def test_every_alarm_has_a_row_with_its_metric_statistic_and_window(rule: AlarmRule[str]) -> None:
    text = row(documented_key(rule))
    assert rule.metric in text
    sign = {ABOVE: AT_LEAST, AT_MOST: AT_MOST_SIGN}.get(rule.comparison, "<")
    assert f"{rule.statistic} {sign}" in text
    assert window(rule) in text
    assert rule.recover_instance == ("recovers the host" in text)


def test_the_table_has_no_alarm_the_program_does_not_create() -> None:
    documented = set(re.findall(r"^\| `([a-z<>-]+)`", SECTION, flags=re.MULTILINE))
    alarms = {documented_key(rule) for rule in RULES}
    assert documented == alarms


def test_every_log_group_is_documented() -> None:
    for component in telemetry.LOG_COMPONENTS:
        assert f"`/orthweb/<stack>/{component}`" in SECTION


def test_the_documented_access_log_fields_are_the_rendered_ones() -> None:
    for field in (*telemetry.HTTP_ACCESS_LOG_FIELDS, *telemetry.DICOM_CONNECTION_LOG_FIELDS):
        assert f"`{field}`" in SECTION, field
