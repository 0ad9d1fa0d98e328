"""The serving host as its administrator sees it, from one read-only script run over SSM: cloud-init,
the containers, Envoy's view of the replicas, and the database connections and tables. In the
scale-out topology every host in service is checked, and a check passes only if it passes on each."""

from __future__ import annotations

from collections.abc import Callable

from orthweb.ops.verify import host
from orthweb.ops.verify.host import CommandOutput, HostRunner, Section
from orthweb.ops.verify.model import CheckFailed
from orthweb.ops.verify.target import Target
from orthweb.ops.verify.telemetry_checks import check_agent

RUNNER_HINT = "SSM Run Command needs the SSM agent online and ssm:SendCommand / ssm:GetCommandInvocation"


class HostChecks:
    """The script runs once per host, on the first check that needs it; each check reads its own section."""

    def __init__(self, target: Target, runner: HostRunner) -> None:
        self.target = target
        self.runner = runner
        self._outputs: dict[str, tuple[CommandOutput, dict[str, Section]]] = {}
        self._database: dict[str, host.DatabaseFacts] = {}
        self._instance = ""  # the host the check being run reads

    def _on_every_host(self, check: Callable[[], str]) -> str:
        """`check` on each host in service; the first failure names its host."""
        instances = self.target.deployment.host_instances
        if not instances:
            raise CheckFailed("no host is in service to check", "see lb.targets and the Auto Scaling group's activity")
        details: list[str] = []
        for instance in instances:
            self._instance = instance
            try:
                details.append(check())
            except CheckFailed as failure:
                if len(instances) == 1:
                    raise
                raise CheckFailed(f"{instance}: {failure.detail}", failure.hint) from None
        return (
            details[0] if len(details) == 1 else "; ".join(f"{i}: {d}" for i, d in zip(instances, details, strict=True))
        )

    def _section(self, name: str) -> Section:
        if self._instance not in self._outputs:
            options = self.target.options
            script = host.host_script(options.layout)
            output = self.runner.run(self._instance, script, options.host_timeout)
            self._outputs[self._instance] = (output, host.split_sections(output.stdout))
        output, sections = self._outputs[self._instance]
        if output.refusal:
            raise CheckFailed(f"host command not run: {output.refusal}", RUNNER_HINT)
        if output.status != "Success":
            raise CheckFailed(
                f"host command {output.status} (exit {output.exit_code}): {output.stderr.strip()[:200]}", RUNNER_HINT
            )
        section = sections.get(name)
        if section is None:
            raise CheckFailed(
                f"the host command's output has no '{name}' section ({len(output.stdout)} characters of output)",
                "run it by hand: `aws ssm start-session`, then the script in docs/verify.md",
            )
        return section

    def _deployment_info(self) -> host.DeploymentInfo:
        return host.parse_deployment(self._section("deployment"))

    def _database_facts(self) -> host.DatabaseFacts:
        if self._instance not in self._database:
            self._database[self._instance] = host.parse_database(self._section("database"))
        return self._database[self._instance]

    def cloud_init(self) -> str:
        return self._on_every_host(lambda: host.parse_cloud_init(self._section("cloud-init")))

    def containers(self) -> str:
        return self._on_every_host(lambda: host.check_containers(self._section("compose-ps"), self._deployment_info()))

    def envoy(self) -> str:
        return self._on_every_host(
            lambda: host.check_envoy(self._section("envoy-clusters"), self._deployment_info().replicas)
        )

    def database_tls(self) -> str:
        return self._on_every_host(lambda: host.check_database_tls(self._database_facts()))

    def database_tables(self) -> str:
        return self._on_every_host(lambda: host.check_database_tables(self._database_facts()))

    def cloudwatch_agent(self) -> str:
        return self._on_every_host(lambda: check_agent(self._section("cloudwatch-agent")))
