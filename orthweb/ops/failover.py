"""Move the site's Elastic IP to the other host, after making sure that host serves.

Resources are found by the tags every orthweb resource carries (`orthweb:project=orthweb`,
`orthweb:stack=<stack>`, `orthweb:role=primary|secondary|site|site-tls`), never by Pulumi state, so
the user's ordinary AWS credentials are all it needs. `plan()` only reads; `execute()` starts the
target if it is stopped, waits until its Orthanc answers through Envoy, moves the address and checks
the site answers. A refusal (`FailoverError`) raised before a change says that nothing changed.

Tests inject the AWS endpoint (`connect(endpoint_url=...)`) and the health probe.
"""

from __future__ import annotations

import http.client
import json
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from orthweb.constants import (
    HOST_ROLES,
    HTTPS_PORT,
    PROJECT,
    PROJECT_TAG,
    ROLE_TAG,
    SITE_ROLE,
    SITE_TLS_ROLE,
    STACK_TAG,
)

ROLES = HOST_ROLES
# Orthanc's REST root behind Envoy. Without credentials Orthanc answers 401; Envoy answers 503
# when no replica passes its database-touching health check. So "< 500" means Orthanc answered.
HEALTH_PATH = "/system"
DENIED_CODES = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "UnauthorizedException"})


class FailoverError(Exception):
    """A refusal or failure, with one message for the user.

    `changed` is False when nothing was changed in the account before the error.
    """

    def __init__(self, message: str, *, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed

    def user_message(self) -> str:
        text = str(self)
        return text if self.changed else f"{text}\nNothing was changed."


# --- AWS access -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsClients:
    ec2: Any
    secretsmanager: Any
    region: str


def connect(
    *,
    session: boto3.Session | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> AwsClients:
    """Clients from the user's normal credential chain (or an injected session / endpoint)."""
    session = session or boto3.Session(region_name=region)
    region = region or session.region_name
    if not region:
        raise FailoverError("no AWS region: pass --region or set AWS_REGION / a profile region")
    try:
        return AwsClients(
            ec2=session.client("ec2", region_name=region, endpoint_url=endpoint_url),
            secretsmanager=session.client("secretsmanager", region_name=region, endpoint_url=endpoint_url),
            region=region,
        )
    except (BotoCoreError, NoRegionError) as error:
        raise FailoverError(f"cannot create AWS clients: {error}") from None


def call_aws(client: Any, operation: str, *, changed: bool = False, **kwargs: Any) -> Any:
    """Call one API operation, turning credential and permission errors into one clear message."""
    service = client.meta.service_model.signing_name
    action = client.meta.method_to_api_mapping.get(operation, operation)
    try:
        return getattr(client, operation)(**kwargs)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in DENIED_CODES:
            raise FailoverError(
                f"permission denied: your AWS credentials may not call {service}:{action} "
                f"({code}); ask for {service}:{action} on this stack's resources",
                changed=changed,
            ) from None
        message = error.response.get("Error", {}).get("Message", str(error))
        raise FailoverError(f"{service}:{action} failed: {code}: {message}", changed=changed) from None
    except NoCredentialsError:
        raise FailoverError("no AWS credentials found (configure a profile or AWS_* variables)") from None
    except BotoCoreError as error:
        raise FailoverError(f"{service}:{action} failed: {error}", changed=changed) from None


def _tag_filters(stack: str, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"Name": f"tag:{PROJECT_TAG}", "Values": [PROJECT]},
        {"Name": f"tag:{STACK_TAG}", "Values": [stack]},
        {"Name": f"tag:{ROLE_TAG}", "Values": list(roles)},
    ]


def tags_of(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in items or []}


# --- health probe -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


class HealthProbe(Protocol):
    def __call__(self, address: str) -> ProbeResult: ...


# Given the site certificate (PEM), returns the probe to use.
ProbeFactory = Callable[[str], HealthProbe]


def https_probe(
    certificate_pem: str,
    *,
    port: int = HTTPS_PORT,
    path: str = HEALTH_PATH,
    timeout: float = 5.0,
    connect_to: Callable[[str], str] | None = None,
) -> HealthProbe:
    """GET https://<address>:<port><path>, trusting only the site certificate.

    The chain is verified against the site certificate alone; the host name is not, because a
    host's own IP is not in the certificate (its SAN names the site DNS name and address).
    `connect_to` maps the address to the socket to dial (tests point it at 127.0.0.1).
    """
    context = ssl.create_default_context(cadata=certificate_pem)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    def probe(address: str) -> ProbeResult:
        host = connect_to(address) if connect_to else address
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        try:
            connection.request("GET", path, headers={"Host": address, "User-Agent": "orthweb-failover"})
            status = connection.getresponse().status
        except ssl.SSLCertVerificationError as error:
            return ProbeResult(False, f"TLS certificate not the site certificate ({error.verify_message})")
        except (OSError, http.client.HTTPException) as error:
            return ProbeResult(False, f"no HTTPS answer ({error.__class__.__name__}: {error})")
        finally:
            connection.close()
        if status >= 500:
            return ProbeResult(False, f"HTTP {status} (Envoy has no healthy Orthanc replica)")
        return ProbeResult(True, f"HTTP {status} from Orthanc through Envoy")

    return probe


# --- progress reporting -------------------------------------------------------------------------


@dataclass(frozen=True)
class StepTiming:
    title: str
    seconds: float
    outcome: str


class Reporter:
    """Numbered steps with timings; a spinner while waiting on a TTY, plain lines otherwise."""

    SPINNER = "|/-\\"

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        plain_every: float = 15.0,
    ) -> None:
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.clock = clock
        self.plain_every = plain_every
        self.timings: list[StepTiming] = []
        self._spin = 0
        self._last_plain: dict[str, float] = {}
        self._dirty = False

    def say(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)

    @contextmanager
    def step(self, title: str) -> Iterator[dict[str, str]]:
        number = len(self.timings) + 1
        self.say(f"[{number}] {title} ...")
        outcome = {"text": "done"}
        started = self.clock()
        try:
            yield outcome
        except BaseException:
            seconds = self.clock() - started
            self.timings.append(StepTiming(title, seconds, "failed"))
            self.say(f"[{number}] {title}: failed after {seconds:.2f} s")
            raise
        seconds = self.clock() - started
        self.timings.append(StepTiming(title, seconds, outcome["text"]))
        self.say(f"[{number}] {title}: {outcome['text']} ({seconds:.2f} s)")

    def waiting(self, what: str, elapsed: float, detail: str = "") -> None:
        suffix = f" - {detail}" if detail else ""
        if self.interactive:
            mark = self.SPINNER[self._spin % len(self.SPINNER)]
            self._spin += 1
            self.stream.write(f"\r    {mark} {what} ({elapsed:.0f} s){suffix}\033[K")
            self.stream.flush()
            self._dirty = True
            return
        last = self._last_plain.get(what)
        if last is None or elapsed - last >= self.plain_every:
            self._last_plain[what] = elapsed
            print(f"    {what} ({elapsed:.0f} s){suffix}", file=self.stream, flush=True)

    def _clear(self) -> None:
        if self._dirty:
            self.stream.write("\r\033[K")
            self._dirty = False


# --- the failover ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    role: str
    instance_id: str
    state: str
    public_ip: str | None
    public_dns: str | None
    availability_zone: str

    @property
    def address(self) -> str | None:
        return self.public_ip or self.public_dns or None

    def describe(self) -> str:
        return f"{self.role} {self.instance_id} ({self.availability_zone}, {self.state})"


@dataclass(frozen=True)
class SiteAddress:
    allocation_id: str
    public_ip: str
    instance_id: str | None


@dataclass(frozen=True)
class FailoverPlan:
    stack: str
    site: SiteAddress
    hosts: dict[str, Host]
    source: Host | None
    target: Host
    certificate_pem: str = field(repr=False)

    def summary(self) -> str:
        origin = f"from {self.source.describe()}" if self.source else "(currently unassociated)"
        start = " It will be started first." if self.target.state != "running" else ""
        return (
            f"Stack {self.stack}: move the site address {self.site.public_ip} {origin} "
            f"to {self.target.describe()}.{start}"
        )


@dataclass(frozen=True)
class FailoverResult:
    plan: FailoverPlan
    target: Host  # as described after the move
    started_target: bool
    timings: tuple[StepTiming, ...]
    site_check: str


@dataclass(frozen=True)
class Timeouts:
    start: float = 600.0
    healthy: float = 600.0
    site: float = 180.0
    poll: float = 5.0


class Failover:
    def __init__(
        self,
        clients: AwsClients,
        stack: str,
        *,
        probe_factory: ProbeFactory = https_probe,
        reporter: Reporter | None = None,
        timeouts: Timeouts | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = clients
        self.stack = stack
        self.probe_factory = probe_factory
        self.reporter = reporter or Reporter(clock=clock)
        self.timeouts = timeouts or Timeouts()
        self.sleep = sleep
        self.clock = clock

    # reading only -----------------------------------------------------------------------------

    def plan(self, to: str | None = None) -> FailoverPlan:
        if to is not None and to not in ROLES:
            raise FailoverError(f"--to must be one of {', '.join(ROLES)}, not {to!r}")
        with self.reporter.step(f"Find stack {self.stack!r} by its tags in {self.clients.region}") as step:
            site = self.find_site_address()
            hosts = self.find_hosts()
            certificate = self.read_site_certificate()
            step["text"] = f"site {site.public_ip}, {', '.join(h.describe() for h in hosts.values())}"
        source = next((h for h in hosts.values() if h.instance_id == site.instance_id), None)
        if site.instance_id and source is None:
            raise FailoverError(
                f"the site address {site.public_ip} is associated with {site.instance_id}, "
                f"which is not one of this stack's hosts; resolve that by hand"
            )
        if to is None:
            if source is None:
                to = "primary"
            else:
                to = next(role for role in ROLES if role != source.role)
        target = hosts[to]
        if source is not None and source.role == to:
            raise FailoverError(
                f"the {to} host {target.instance_id} already holds the site address "
                f"{site.public_ip}; there is nothing to move"
            )
        if target.state not in ("running", "stopped", "pending", "stopping"):
            raise FailoverError(f"the {to} host {target.instance_id} is {target.state}; it cannot serve")
        return FailoverPlan(self.stack, site, hosts, source, target, certificate)

    def find_site_address(self) -> SiteAddress:
        found = call_aws(self.clients.ec2, "describe_addresses", Filters=_tag_filters(self.stack, (SITE_ROLE,)))
        addresses = found.get("Addresses", [])
        if len(addresses) != 1:
            what = "no Elastic IP" if not addresses else f"{len(addresses)} Elastic IPs"
            raise FailoverError(
                f"found {what} tagged {PROJECT_TAG}=orthweb, {STACK_TAG}={self.stack}, "
                f"{ROLE_TAG}={SITE_ROLE} in {self.clients.region}; check --stack and --region"
            )
        address = addresses[0]
        return SiteAddress(address["AllocationId"], address["PublicIp"], address.get("InstanceId"))

    def find_hosts(self) -> dict[str, Host]:
        filters = [
            *_tag_filters(self.stack, ROLES),
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped"],
            },
        ]
        found = call_aws(self.clients.ec2, "describe_instances", Filters=filters)
        hosts: dict[str, list[Host]] = {role: [] for role in ROLES}
        for reservation in found.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                host = _host(instance)
                hosts[host.role].append(host)
        for role, candidates in hosts.items():
            if len(candidates) != 1:
                what = "no" if not candidates else str(len(candidates))
                raise FailoverError(
                    f"found {what} {role} host tagged {PROJECT_TAG}=orthweb, "
                    f"{STACK_TAG}={self.stack}, {ROLE_TAG}={role} in {self.clients.region}"
                )
        return {role: candidates[0] for role, candidates in hosts.items()}

    def read_site_certificate(self) -> str:
        wanted = {PROJECT_TAG: PROJECT, STACK_TAG: self.stack, ROLE_TAG: SITE_TLS_ROLE}
        matches: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            paging: dict[str, Any] = {"NextToken": token} if token else {}
            page = call_aws(
                self.clients.secretsmanager,
                "list_secrets",
                Filters=[
                    {"Key": "tag-key", "Values": [ROLE_TAG]},
                    {"Key": "tag-value", "Values": [SITE_TLS_ROLE]},
                ],
                **paging,
            )
            for entry in page.get("SecretList", []):
                tags = tags_of(entry.get("Tags"))
                if all(tags.get(key) == value for key, value in wanted.items()):
                    matches.append(entry)
            token = page.get("NextToken")
            if not token:
                break
        if len(matches) != 1:
            raise FailoverError(
                f"found {len(matches)} Secrets Manager secrets tagged "
                f"{ROLE_TAG}={SITE_TLS_ROLE} for stack {self.stack}; the health check needs the "
                f"site certificate to trust"
            )
        value = call_aws(self.clients.secretsmanager, "get_secret_value", SecretId=matches[0]["ARN"])
        try:
            certificate = json.loads(value["SecretString"])["certificate"]
        except (KeyError, TypeError, ValueError):
            raise FailoverError(f"secret {matches[0]['Name']} is not JSON with a 'certificate' field") from None
        if "-----BEGIN CERTIFICATE-----" not in str(certificate):
            raise FailoverError(f"secret {matches[0]['Name']} holds no PEM certificate")
        return str(certificate)

    # changing ---------------------------------------------------------------------------------

    def execute(self, plan: FailoverPlan) -> FailoverResult:
        probe = self.probe_factory(plan.certificate_pem)
        target = plan.target
        started = False
        if target.state in ("stopped", "stopping"):
            with self.reporter.step(f"Start the {target.role} host {target.instance_id}") as step:
                if target.state == "stopping":
                    self._wait_state(target, "stopped")
                call_aws(self.clients.ec2, "start_instances", InstanceIds=[target.instance_id])
                started = True
                target = self._wait_state(target, "running", changed=True)
                step["text"] = f"running, public address {target.address}"
        elif target.state == "pending":
            with self.reporter.step(f"Wait for the {target.role} host {target.instance_id} to run") as step:
                target = self._wait_state(target, "running")
                step["text"] = f"running, public address {target.address}"
        else:
            target = self._describe(target)

        left_running = (
            f" The {target.role} host {target.instance_id} was started by this command and is left "
            f"running; stop it with `aws ec2 stop-instances --instance-ids {target.instance_id}` "
            f"if you do not want it."
            if started
            else ""
        )
        if not target.address:
            raise FailoverError(
                f"the {target.role} host {target.instance_id} has no public address to check; "
                f"the site address was not moved.{left_running}",
                changed=started,
            )
        with self.reporter.step(f"Wait until Orthanc answers on {target.address}:{HTTPS_PORT} through Envoy") as step:
            outcome = self._wait_healthy(probe, target.address, self.timeouts.healthy, f"{target.role} host")
            if not outcome.ok:
                raise FailoverError(
                    f"the {target.role} host {target.instance_id} did not answer healthily within "
                    f"{self.timeouts.healthy:.0f} s (last: {outcome.detail}); the site address was "
                    f"not moved.{left_running}",
                    changed=started,
                )
            step["text"] = outcome.detail

        with self.reporter.step(f"Move the site address {plan.site.public_ip} to {target.instance_id}") as step:
            try:
                call_aws(
                    self.clients.ec2,
                    "associate_address",
                    changed=started,
                    AllocationId=plan.site.allocation_id,
                    InstanceId=target.instance_id,
                    AllowReassociation=True,
                )
            except FailoverError as error:
                raise FailoverError(
                    f"{error}; the site address was not moved.{left_running}", changed=error.changed
                ) from None
            holder = self.find_site_address().instance_id
            if holder != target.instance_id:
                raise FailoverError(
                    f"after the move AWS reports the site address on {holder}, not {target.instance_id}",
                    changed=True,
                )
            step["text"] = f"associated with the {target.role} host"

        with self.reporter.step(f"Check the site answers on {plan.site.public_ip}") as step:
            outcome = self._wait_healthy(probe, plan.site.public_ip, self.timeouts.site, "site address")
            if not outcome.ok:
                raise FailoverError(
                    f"the site address now points at the {target.role} host "
                    f"{target.instance_id}, but https://{plan.site.public_ip}/ did not answer "
                    f"within {self.timeouts.site:.0f} s (last: {outcome.detail})",
                    changed=True,
                )
            step["text"] = outcome.detail
        return FailoverResult(plan, target, started, tuple(self.reporter.timings), outcome.detail)

    def _describe(self, host: Host) -> Host:
        found = call_aws(self.clients.ec2, "describe_instances", InstanceIds=[host.instance_id])
        return _host(found["Reservations"][0]["Instances"][0])

    def _wait_state(self, host: Host, wanted: str, *, changed: bool = False) -> Host:
        began = self.clock()
        while True:
            current = self._describe(host)
            if current.state == wanted:
                return current
            elapsed = self.clock() - began
            if elapsed >= self.timeouts.start:
                raise FailoverError(
                    f"the {host.role} host {host.instance_id} is still {current.state} after "
                    f"{self.timeouts.start:.0f} s (wanted {wanted}); the site address was not "
                    f"moved",
                    changed=changed,
                )
            self.reporter.waiting(f"waiting for {host.instance_id} to be {wanted}", elapsed, current.state)
            self.sleep(self.timeouts.poll)

    def _wait_healthy(self, probe: HealthProbe, address: str, timeout: float, what: str) -> ProbeResult:
        began = self.clock()
        while True:
            outcome = probe(address)
            elapsed = self.clock() - began
            if outcome.ok or elapsed >= timeout:
                return outcome
            self.reporter.waiting(f"waiting for the {what} {address} to answer", elapsed, outcome.detail)
            self.sleep(self.timeouts.poll)


def _host(instance: dict[str, Any]) -> Host:
    tags = tags_of(instance.get("Tags"))
    return Host(
        role=tags.get(ROLE_TAG, "?"),
        instance_id=instance["InstanceId"],
        state=instance["State"]["Name"],
        public_ip=instance.get("PublicIpAddress") or None,
        public_dns=instance.get("PublicDnsName") or None,
        availability_zone=instance.get("Placement", {}).get("AvailabilityZone", "?"),
    )
