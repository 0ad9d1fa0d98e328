"""Run checkov on the plan of an evaluated stack and apply the reviewed skips.

checkov pins packaging<24 while pulumi needs newer, so it lives in its own virtualenv and runs
as a subprocess. Skips are applied here rather than through checkov's `--skip-check` (which
would drop a check for every resource, silently): a failure becomes "skipped" only when
skips.yaml names that check *and* that resource, and a skip that matches nothing is reported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orthweb.evaluate import PROJECT_ROOT, Evaluation
from orthweb.ops.compliance.plan import addresses, terraform_plan
from orthweb.ops.compliance.skips import Skip, load_skips

CHECKOV_ENV = "ORTHWEB_CHECKOV"
CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = PROJECT_ROOT / ".checkov-venv"
# checkov pins packaging<24 while pulumi needs newer, so it lives in a virtualenv of its own.
INSTALL_HINT = (
    f"run scripts/setup --all (it makes {CHECKOV_VENV.name} with `pip install checkov=={CHECKOV_VERSION}`), "
    f"or set {CHECKOV_ENV} to a checkov executable"
)
TIMEOUT_SECONDS = 600


class CheckovMissing(RuntimeError):
    """checkov cannot be found or run; the message says, in one line, what to run."""

    def __init__(self, detail: str = "checkov is not installed") -> None:
        super().__init__(f"{detail}: {INSTALL_HINT}")


class CheckovFailed(RuntimeError):
    """checkov ran but did not produce a usable report."""


@dataclass(frozen=True)
class Result:
    id: str
    name: str
    resource: str  # Terraform address, as checkov reports it
    pulumi_name: str | None  # None for the provider block

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "resource": self.resource}


@dataclass(frozen=True)
class Skipped:
    result: Result
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.result.id, "resource": self.result.resource, "reason": self.reason}


@dataclass
class Report:
    stack: str
    environment: str
    checkov_version: str
    resource_count: int
    passed: list[Result] = field(default_factory=list)
    failed: list[Result] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # (check id, resource) pairs skips.yaml names for this environment that checkov did not fail.
    unused_skips: list[tuple[str, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.failed and not self.unused_skips

    def summary(self) -> dict[str, Any]:
        return {
            "passed": len(self.passed),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "failures": [r.as_dict() for r in self.failed],
            "skips": [s.as_dict() for s in self.skipped],
        }


def find_checkov(project_root: Path = PROJECT_ROOT) -> Path:
    """$ORTHWEB_CHECKOV, else the project's .checkov-venv, else `checkov` on PATH."""
    configured = os.environ.get(CHECKOV_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise CheckovMissing(f"{CHECKOV_ENV}={configured} is not an executable file")
        return path
    local = project_root / ".checkov-venv" / "bin" / "checkov"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    on_path = shutil.which("checkov")
    if on_path:
        return Path(on_path)
    raise CheckovMissing()


def run_checkov(plan: dict[str, Any], checkov: Path) -> dict[str, Any]:
    """checkov's JSON report for `plan` (no skips: every check runs on every resource)."""
    with tempfile.TemporaryDirectory(prefix="orthweb-check-") as workdir:
        plan_file = Path(workdir) / "plan.json"
        plan_file.write_text(json.dumps(plan), encoding="utf-8")
        command = [
            str(checkov),
            *("--framework", "terraform_plan", "-f", str(plan_file), "--output", "json"),
            # Offline and deterministic: no platform download, exit 0 whatever the findings.
            *("--skip-download", "--soft-fail"),
        ]
        environment = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
        try:
            done = subprocess.run(
                command,
                cwd=workdir,
                env=environment,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except OSError as error:
            raise CheckovMissing(f"cannot run {checkov}: {error}") from None
        except subprocess.TimeoutExpired:
            raise CheckovFailed(f"checkov did not finish within {TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        raise CheckovFailed(f"checkov exited with {done.returncode}: {_tail(done.stderr or done.stdout)}")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise CheckovFailed(f"checkov printed no JSON report: {_tail(done.stdout + done.stderr)}") from None
    # One framework gives one report; checkov gives a list when several ran.
    if isinstance(report, list):
        report = next((r for r in report if r.get("check_type") == "terraform_plan"), {})
    if not isinstance(report, dict) or "results" not in report:
        raise CheckovFailed(f"checkov's report has no results (did it scan {plan_file.name}?)")
    errors = report.get("summary", {}).get("parsing_errors", 0)
    if errors:
        raise CheckovFailed(f"checkov could not parse the plan ({errors} parsing errors)")
    return report


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def build_report(evaluation: Evaluation, checkov_report: dict[str, Any], skips: Sequence[Skip]) -> Report:
    names = {address: urn.rsplit("::", 1)[-1] for urn, address in addresses(evaluation).items()}
    environment = evaluation.config.environment
    topology = evaluation.config.topology
    authentication = evaluation.config.authentication
    tls_end = evaluation.config.tls_ends_at
    callers = evaluation.config.dicom_callers
    # Which skips apply, and which must be used: those of this kind of stack.
    shape = (environment, topology, authentication, tls_end, callers)
    summary = checkov_report.get("summary", {})
    report = Report(
        stack=evaluation.stack,
        environment=environment,
        checkov_version=str(summary.get("checkov_version", "?")),
        resource_count=int(summary.get("resource_count", len(names))),
    )

    def result(raw: dict[str, Any]) -> Result:
        resource = str(raw.get("resource", ""))
        return Result(str(raw["check_id"]), str(raw.get("check_name", "")), resource, names.get(resource))

    results = checkov_report["results"]
    report.passed = sorted((result(r) for r in results.get("passed_checks", [])), key=_order)
    used: set[tuple[str, str]] = set()
    for raw in results.get("failed_checks", []):
        found = result(raw)
        skip = next(
            (s for s in skips if s.applies(found.id, found.resource, *shape)),
            None,
        )
        if skip is None:
            report.failed.append(found)
        else:
            report.skipped.append(Skipped(found, skip.reason))
            used.add((found.id, found.resource))
    # checkov itself skips nothing here (no --skip-check), but keep any it reports.
    report.skipped.extend(Skipped(result(r), "skipped by checkov") for r in results.get("skipped_checks", []))
    report.failed.sort(key=_order)
    report.skipped.sort(key=lambda s: _order(s.result))
    # A resource this stack does not have (the plain-DICOM load balancer without `hospitalNetwork`)
    # leaves its skips neither applied nor unused.
    report.unused_skips = sorted(
        (s.id, resource)
        for s in skips
        if s.expected(*shape)
        for resource in s.resources
        if resource in names and (s.id, resource) not in used
    )
    return report


def _order(result: Result) -> tuple[str, str]:
    return (result.id, result.resource)


def scan(evaluation: Evaluation, *, checkov: Path | None = None, skips: Sequence[Skip] | None = None) -> Report:
    """Convert, run checkov, apply skips. CheckovMissing / CheckovFailed when it cannot run."""
    plan = terraform_plan(evaluation)
    raw = run_checkov(plan, checkov or find_checkov())
    return build_report(evaluation, raw, load_skips() if skips is None else skips)
