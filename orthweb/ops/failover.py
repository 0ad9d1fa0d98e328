"""Move the site's Elastic IP to the other host, after making sure that host serves.

`plan()` only reads: it finds the stack by its tags (`orthweb.ops.tagged`) and picks the target.
`execute()` starts the target if it is stopped, waits until its Orthanc answers through Envoy,
moves the address and checks the site answers. A refusal (`OpsError`) raised before a change says
that nothing changed.

Tests inject the AWS endpoint (`orthweb.ops.aws.connect(endpoint_url=...)`) and the health probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orthweb.ops.aws import AwsClients, OpsError, call_aws
from orthweb.ops.key_access import CHECK_PERMISSIONS, KeyAccess, check_key_access, refusal, volume_keys
from orthweb.ops.probe import HealthProbe, ProbeFactory, ProbeResult, https_probe
from orthweb.ops.progress import Reporter, StepTiming
from orthweb.ops.tagged import Host, SiteAddress, TaggedStack
from orthweb.shared.constants import HOST_ROLES, HTTPS_PORT, PRIMARY

# A host in one of these states can be brought to serve (a stopping one is started once stopped).
SERVABLE_STATES = ("running", "stopped", "pending", "stopping")


class NoStandby(OpsError):
    """The stack runs the scale-out topology: there is no standby host to move the site to."""

    def __init__(self, stack: str) -> None:
        super().__init__(
            f"stack {stack} runs the scale-out topology, which fails over by itself: the load balancer "
            f"stops sending clients to a host that fails its health checks and the Auto Scaling group "
            f"replaces it; there is no standby host to move the site to (see `orthweb verify`)"
        )


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
        self.tagged = TaggedStack(clients, stack)
        self.probe_factory = probe_factory
        self.reporter = reporter or Reporter(clock=clock)
        self.timeouts = timeouts or Timeouts()
        self.sleep = sleep
        self.clock = clock

    # reading only -----------------------------------------------------------------------------

    def plan(self, to: str | None = None) -> FailoverPlan:
        if to is not None and to not in HOST_ROLES:
            raise OpsError(f"--to must be one of {', '.join(HOST_ROLES)}, not {to!r}")
        # Before any step is reported: on a scale-out stack the refusal is the only output.
        if self.tagged.runs_scale_out():
            raise NoStandby(self.stack)
        with self.reporter.step(f"Find stack {self.stack!r} by its tags in {self.clients.region}") as step:
            site = self.tagged.site_address()
            hosts = self.tagged.hosts()
            certificate = self.tagged.site_certificate()
            step["text"] = f"site {site.public_ip}, {', '.join(h.describe() for h in hosts.values())}"
        source = next((h for h in hosts.values() if h.instance_id == site.instance_id), None)
        if site.instance_id and source is None:
            raise OpsError(
                f"the site address {site.public_ip} is associated with {site.instance_id}, "
                f"which is not one of this stack's hosts; resolve that by hand"
            )
        to = to or _other_role(source)
        target = hosts[to]
        if source is not None and source.role == to:
            raise OpsError(
                f"the {to} host {target.instance_id} already holds the site address "
                f"{site.public_ip}; there is nothing to move"
            )
        if target.state not in SERVABLE_STATES:
            raise OpsError(f"the {to} host {target.instance_id} is {target.state}; it cannot serve")
        if target.state in ("stopped", "stopping"):
            self._check_key_access(target)
        return FailoverPlan(self.stack, site, hosts, source, target, certificate)

    def _check_key_access(self, target: Host) -> None:
        """Before anything starts: a host whose disk key the caller may not use falls back to stopped."""
        try:
            keys = volume_keys(self.clients.ec2, target.instance_id)
        except OpsError as error:
            keys, problem = (), str(error)
        else:
            if not keys:
                return  # no customer-managed key: EC2 needs nothing of the caller
            problem = ""
        with self.reporter.step(f"Check you may use the key of the {target.role} host's disk") as step:
            access = check_key_access(self.clients, keys) if keys else KeyAccess((), unchecked=problem)
            if access.unchecked:
                needs = ", ".join(CHECK_PERMISSIONS)
                step["text"] = f"not checked ({access.unchecked}; checking needs {needs}); starting anyway"
                return
            if not access.allowed:
                raise refusal(access, target.role, target.instance_id, self.clients.region)
            step["text"] = f"{access.principal_arn} may use {', '.join(access.key_arns)}"

    # changing ---------------------------------------------------------------------------------

    def execute(self, plan: FailoverPlan) -> FailoverResult:
        probe = self.probe_factory(plan.certificate_pem)
        target, started = self._bring_up(plan.target)
        left_running = _left_running_note(target) if started else ""
        self._check_target_serves(probe, target, started, left_running)
        self._move_site_address(plan.site, target, started, left_running)
        self._move_private_route(target)
        site_check = self._check_site_serves(probe, plan.site, target)
        return FailoverResult(plan, target, started, tuple(self.reporter.timings), site_check)

    def _bring_up(self, target: Host) -> tuple[Host, bool]:
        """The target running (started when stopped) and whether this command started it."""
        if target.state in ("stopped", "stopping"):
            with self.reporter.step(f"Start the {target.role} host {target.instance_id}") as step:
                if target.state == "stopping":
                    self._wait_state(target, "stopped")
                call_aws(self.clients.ec2, "start_instances", InstanceIds=[target.instance_id])
                target = self._wait_state(target, "running", changed=True)
                step["text"] = f"running, public address {target.address}"
            return target, True
        if target.state == "pending":
            with self.reporter.step(f"Wait for the {target.role} host {target.instance_id} to run") as step:
                target = self._wait_state(target, "running")
                step["text"] = f"running, public address {target.address}"
            return target, False
        return self.tagged.host(target.instance_id), False

    def _check_target_serves(self, probe: HealthProbe, target: Host, started: bool, left_running: str) -> None:
        if not target.address:
            raise OpsError(
                f"the {target.role} host {target.instance_id} has no public address to check; "
                f"the site address was not moved.{left_running}",
                changed=started,
            )
        with self.reporter.step(f"Wait until Orthanc answers on {target.address}:{HTTPS_PORT} through Envoy") as step:
            outcome = self._wait_healthy(probe, target.address, self.timeouts.healthy, f"{target.role} host")
            if not outcome.ok:
                raise OpsError(
                    f"the {target.role} host {target.instance_id} did not answer healthily within "
                    f"{self.timeouts.healthy:.0f} s (last: {outcome.detail}); the site address was "
                    f"not moved.{left_running}",
                    changed=started,
                )
            step["text"] = outcome.detail

    def _move_site_address(self, site: SiteAddress, target: Host, started: bool, left_running: str) -> None:
        with self.reporter.step(f"Move the site address {site.public_ip} to {target.instance_id}") as step:
            try:
                call_aws(
                    self.clients.ec2,
                    "associate_address",
                    changed=started,
                    AllocationId=site.allocation_id,
                    InstanceId=target.instance_id,
                    AllowReassociation=True,
                )
            except OpsError as error:
                raise OpsError(
                    f"{error}; the site address was not moved.{left_running}", changed=error.changed
                ) from None
            holder = self.tagged.site_address().instance_id
            if holder != target.instance_id:
                raise OpsError(
                    f"after the move AWS reports the site address on {holder}, not {target.instance_id}",
                    changed=True,
                )
            step["text"] = f"associated with the {target.role} host"

    def _move_private_route(self, target: Host) -> None:
        """With a hospital network: the VPN gateway's route to the site's private address follows
        the Elastic IP, so modalities on the plain-DICOM path keep their one destination."""
        table = self.tagged.site_route()
        if table is None:
            return
        routes = [route for route in table.get("Routes", []) if route.get("GatewayId") != "local"]
        with self.reporter.step(f"Route the site's private address to {target.instance_id}") as step:
            interface = self.tagged.primary_interface(target.instance_id)
            for route in routes:
                call_aws(
                    self.clients.ec2,
                    "replace_route",
                    changed=True,
                    RouteTableId=table["RouteTableId"],
                    DestinationCidrBlock=route["DestinationCidrBlock"],
                    NetworkInterfaceId=interface,
                )
            step["text"] = f"{', '.join(r['DestinationCidrBlock'] for r in routes)} -> {interface}"

    def _check_site_serves(self, probe: HealthProbe, site: SiteAddress, target: Host) -> str:
        with self.reporter.step(f"Check the site answers on {site.public_ip}") as step:
            outcome = self._wait_healthy(probe, site.public_ip, self.timeouts.site, "site address")
            if not outcome.ok:
                raise OpsError(
                    f"the site address now points at the {target.role} host "
                    f"{target.instance_id}, but https://{site.public_ip}/ did not answer "
                    f"within {self.timeouts.site:.0f} s (last: {outcome.detail})",
                    changed=True,
                )
            step["text"] = outcome.detail
        return outcome.detail

    # waiting ----------------------------------------------------------------------------------

    def _wait_state(self, host: Host, wanted: str, *, changed: bool = False) -> Host:
        began = self.clock()
        while True:
            current = self.tagged.host(host.instance_id)
            if current.state == wanted:
                return current
            elapsed = self.clock() - began
            if elapsed >= self.timeouts.start:
                raise OpsError(
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


def _other_role(holder: Host | None) -> str:
    """The default target: the host not holding the site address (the primary when none does)."""
    if holder is None:
        return PRIMARY
    return next(role for role in HOST_ROLES if role != holder.role)


def _left_running_note(target: Host) -> str:
    return (
        f" The {target.role} host {target.instance_id} was started by this command and is left "
        f"running; stop it with `aws ec2 stop-instances --instance-ids {target.instance_id}` "
        f"if you do not want it."
    )
