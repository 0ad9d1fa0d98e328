"""What the checks produce (results, a report) and what they need from AWS (`StackBackend`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from orthweb.host.credentials import Credential
from orthweb.ops.client_certificates import ClientCertificate

Status = Literal["pass", "fail", "skip"]
MARKS: dict[Status, str] = {"pass": "✔", "fail": "✘", "skip": "-"}


class CheckFailed(Exception):
    """A check's verdict: `detail` says what was seen, `hint` what to look at next."""

    def __init__(self, detail: str, hint: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint


@dataclass(frozen=True)
class TargetHealth:
    """One target group of the load balancer: its port, the healthy hosts, the others and why."""

    port: int
    healthy: tuple[str, ...]
    other: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class LoadBalancedGroup:
    """The scale-out topology's Auto Scaling group and the load balancer in front of it."""

    name: str
    in_service: tuple[str, ...]
    load_balancer_name: str
    load_balancer_dns: str
    # TLS listeners with a publicly trusted ACM certificate (else TCP through to Envoy's certificate).
    tls_at_load_balancer: bool
    targets: tuple[TargetHealth, ...]


@dataclass(frozen=True)
class Deployment:
    """What the checks need to know about the stack, found by its tags."""

    stack: str
    region: str
    site_address: str
    serving_instance: str
    serving_role: str
    certificate_pem: str = field(repr=False)
    admin: Credential
    credentials_secret: str
    site_tls_secret: str
    dicom_bucket: str
    key_arn: str
    key_alias: str
    # The scale-out topology's group (None for the failover topology's primary and secondary).
    group: LoadBalancedGroup | None = None

    @property
    def host_instances(self) -> tuple[str, ...]:
        """The hosts the host checks run on: every one serving clients."""
        return self.group.in_service if self.group is not None else (self.serving_instance,)

    @property
    def trusted_pem(self) -> str | None:
        """What a client trusts: the site certificate, or None for the system's CAs when the load
        balancer serves a publicly trusted certificate."""
        return None if self.group is not None and self.group.tls_at_load_balancer else self.certificate_pem


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    size: int
    encryption: str | None
    kms_key_id: str | None


class StackBackend(Protocol):
    """The AWS side of the checks (tests point it at moto)."""

    def locate(self) -> Deployment:
        """Find the stack's resources; raise CheckFailed with a hint when something is missing."""
        ...

    def find_object(self, bucket: str, keys: list[str]) -> StoredObject | None:
        """The first of `keys` that exists in `bucket` (head only), or None."""
        ...

    def client_certificates(self) -> dict[str, ClientCertificate] | None:
        """The modalities' DICOM client certificates by AE title; None when the stack issues none."""
        ...

    def vpn_connection(self) -> dict[str, Any] | None:
        """The stack's VPN connection to the hospital as EC2 describes it; None without hospitalNetwork."""
        ...


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    seconds: float
    detail: str = ""
    hint: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "ok": self.status != "fail",
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
            "hint": self.hint,
        }


@dataclass
class Report:
    stack: str
    region: str
    site_address: str = ""
    serving: str = ""
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.status != "fail" for r in self.results)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    def counts(self) -> dict[Status, int]:
        counts: dict[Status, int] = {"pass": 0, "fail": 0, "skip": 0}
        for result in self.results:
            counts[result.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "region": self.region,
            "site_address": self.site_address,
            "serving": self.serving,
            "ok": self.ok,
            "counts": self.counts(),
            "seconds": round(self.seconds, 3),
            "checks": [r.to_json() for r in self.results],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def table(self) -> str:
        width = max((len(r.id) for r in self.results), default=10)
        title = f"orthweb verify: stack {self.stack!r} in {self.region}"
        if self.site_address:
            title += f", site {self.site_address}"
        if self.serving:
            title += f", served by {self.serving}"
        lines = [title, ""]
        for r in self.results:
            lines.append(f"  {MARKS[r.status]} {r.id:<{width}} {r.seconds:6.2f} s  {r.detail}")
            if r.hint:
                lines.append(f"    {'':<{width}}          -> {r.hint}")
        counts = self.counts()
        verdict = "all checks passed" if self.ok else f"{counts['fail']} check(s) failed"
        lines += [
            "",
            f"{verdict}: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped "
            f"in {self.seconds:.1f} s",
        ]
        return "\n".join(lines) + "\n"
