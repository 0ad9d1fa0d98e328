"""The private path from the hospital (config `hospitalNetwork`) as verify can see it: the VPN
connection's tunnels as AWS reports them, and a C-ECHO in plain DICOM run on each serving host over
SSM to where that host takes plain DICOM. Out of reach from here: the hospital's device and network,
traffic through the tunnels, and (failover) the VPN gateway's route to the serving host.
"""

from __future__ import annotations

import shlex
from importlib import resources
from typing import Any

from orthweb.ops.verify.dicom_checks import NO_MODALITY, DicomChecks
from orthweb.ops.verify.host import HostRunner
from orthweb.ops.verify.host_checks import RUNNER_HINT
from orthweb.ops.verify.model import CheckFailed, StackBackend
from orthweb.ops.verify.target import Target
from orthweb.ops.vpn import destinations_of, tunnel_states
from orthweb.shared.modalities import OWN_AET

NO_VPN = "skipped: the stack has no VPN to a hospital (hospitalNetwork)"
TUNNEL_HINT = (
    "the hospital's VPN device must bring the tunnels up with the settings `orthweb vpn` writes; the "
    "alarm vpn-tunnels-down says when both are down"
)
# Scale-out: each member publishes the plain port on all its addresses; the internal load balancer
# admits the hospital's ranges only, so a host reaches its own listener here instead.
HOST_LOOPBACK = "127.0.0.1"
ECHO_TIMEOUT_SECONDS = 60.0


def echo_script(address: str, port: int, calling_ae: str) -> str:
    """The host command: the probe's source fed to the host's python3 (nothing to install)."""
    source = resources.files("orthweb.ops.verify").joinpath("echo_probe.py").read_text(encoding="utf-8")
    arguments = " ".join(shlex.quote(a) for a in (address, str(port), calling_ae, OWN_AET))
    return f"python3 - {arguments} <<'ORTHWEB_ECHO_PROBE'\n{source}\nORTHWEB_ECHO_PROBE\n"


class VpnChecks:
    def __init__(self, target: Target, backend: StackBackend, runner: HostRunner, dicom: DicomChecks) -> None:
        self.target = target
        self.backend = backend
        self.runner = runner
        self.dicom = dicom
        self._connection: dict[str, Any] | None = None
        self._looked = False

    def _found(self) -> dict[str, Any] | None:
        if not self._looked:
            self._connection = self.backend.vpn_connection()
            self._looked = True
        return self._connection

    def tunnels(self) -> str:
        """`vpn.tunnels`: at least one of the connection's two tunnels is up; the others are named."""
        connection = self._found()
        if connection is None:
            return NO_VPN
        name = connection["VpnConnectionId"]
        states = tunnel_states(connection)
        if not states:
            raise CheckFailed(
                f"AWS reports no tunnel state for {name} ({connection.get('State', '?')})",
                "a new connection reports its tunnels once it is available; run verify again in a few minutes",
            )
        up = [t for t in states if t.up]
        down = "; ".join(t.describe() for t in states if not t.up)
        if not up:
            raise CheckFailed(f"no tunnel of {name} is up: {down}", TUNNEL_HINT)
        return f"{name}: {len(up)} of {len(states)} tunnels up" + (f"; down: {down}" if down else "")

    def echo(self) -> str:
        """`vpn.echo`: C-ECHO in plain DICOM as a configured modality, on each host in service."""
        connection = self._found()
        if connection is None:
            return NO_VPN
        caller = self.dicom.caller()
        if caller is None:
            return f"skipped: {NO_MODALITY}"
        destinations = destinations_of(connection)
        if not destinations:
            raise CheckFailed(
                f"{connection['VpnConnectionId']} does not say where plain DICOM goes (its tags)", "run pulumi up"
            )
        address, _, port = destinations[0].rpartition(":")
        if self.target.deployment.group is not None:
            address = HOST_LOOPBACK
        answers = [self._echo_on(instance, address, int(port), caller[0]) for instance in self._hosts()]
        return f"C-ECHO to {OWN_AET}@{address}:{port} as {caller[0]} status 0x0000 on " + ", ".join(answers)

    def _hosts(self) -> tuple[str, ...]:
        instances = self.target.deployment.host_instances
        if not instances:
            raise CheckFailed("no host is in service to run the C-ECHO on", "see lb.targets")
        return instances

    def _echo_on(self, instance: str, address: str, port: int, calling_ae: str) -> str:
        output = self.runner.run(instance, echo_script(address, port, calling_ae), ECHO_TIMEOUT_SECONDS)
        if output.refusal:
            raise CheckFailed(f"{instance}: host command not run: {output.refusal}", RUNNER_HINT)
        answer = (output.stdout.strip().splitlines() or [output.stderr.strip()[:200] or "no output"])[-1]
        if output.status != "Success" or answer != "status 0x0000":
            raise CheckFailed(
                f"{instance}: plain DICOM to {address}:{port}: {answer}",
                "`docker logs orthweb-envoy-1` on the host; is the caller one of dicomModalities?",
            )
        return instance
