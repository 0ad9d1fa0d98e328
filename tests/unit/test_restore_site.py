"""Waiting for a restored stack's site: until its REST API answers 200 with the stack's credential,
through every state a new stack passes (not found by its tags yet, Envoy's 503 while no replica is
healthy), and a plain failure naming the last state when it never serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orthweb.ops.aws import OpsError
from orthweb.ops.restore_site import finish_commands, wait_until_serving
from orthweb.ops.verify.model import CheckFailed
from tests.fake_clock import FakeClock


def _as_status(found: Any) -> int:
    """The fake deployments here are the statuses their site answers."""
    return int(found)


def _any_site() -> Any:
    return "site"


def test_the_site_is_waited_for_until_it_serves() -> None:
    clock = FakeClock()
    answers: list[Any] = [CheckFailed("found no Elastic IP tagged orthweb:stack=dev-r1"), 503, 401, 200]
    statuses: list[int] = []

    def locate() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        statuses.append(answer)
        return answer

    found = wait_until_serving(locate, timeout=600, poll=15, clock=clock, sleep=clock.sleep, status_of=_as_status)
    assert found == 200 and statuses == [503, 401, 200] and clock.now == 45


def test_a_site_that_never_serves_fails_naming_the_last_answer() -> None:
    clock = FakeClock()
    with pytest.raises(OpsError) as failed:
        wait_until_serving(_any_site, timeout=60, poll=15, clock=clock, sleep=clock.sleep, status_of=lambda _: 503)
    assert str(failed.value) == "the restored site did not serve within 60 s (GET /system answered 503)"
    assert failed.value.changed and clock.now == 60


def test_the_way_to_finish_sets_secrets_before_up_and_resumes_last() -> None:
    commands = finish_commands(Path("/srv/orthweb"), "dev-r1", ("orthweb:siteCertificateKey",), "RESUME")
    assert commands == [
        "cd /srv/orthweb",
        "pulumi stack select --create dev-r1",
        "pulumi config set --secret --stack dev-r1 orthweb:siteCertificateKey <value>",
        "pulumi up --stack dev-r1",
        "RESUME",
    ]
