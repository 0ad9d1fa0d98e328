"""The serving host as its administrator sees it, from one read-only script run over SSM: cloud-init,
the containers, Envoy's view of the replicas, and the database connections and tables."""

from __future__ import annotations

from orthweb.ops.verify import host
from orthweb.ops.verify.host import CommandOutput, HostRunner, Section
from orthweb.ops.verify.model import CheckFailed
from orthweb.ops.verify.target import Target

RUNNER_HINT = "SSM Run Command needs the SSM agent online and ssm:SendCommand / ssm:GetCommandInvocation"


class HostChecks:
    """The script runs once, on the first check that needs it; each check reads its own section."""

    def __init__(self, target: Target, runner: HostRunner) -> None:
        self.target = target
        self.runner = runner
        self._output: CommandOutput | None = None
        self._sections: dict[str, Section] = {}
        self._database: host.DatabaseFacts | None = None

    def _section(self, name: str) -> Section:
        if self._output is None:
            options = self.target.options
            script = host.host_script(options.layout)
            self._output = self.runner.run(self.target.deployment.serving_instance, script, options.host_timeout)
            self._sections = host.split_sections(self._output.stdout)
        output = self._output
        if output.refusal:
            raise CheckFailed(f"host command not run: {output.refusal}", RUNNER_HINT)
        if output.status != "Success":
            raise CheckFailed(
                f"host command {output.status} (exit {output.exit_code}): {output.stderr.strip()[:200]}", RUNNER_HINT
            )
        section = self._sections.get(name)
        if section is None:
            raise CheckFailed(
                f"the host command's output has no '{name}' section ({len(output.stdout)} characters of output)",
                "run it by hand: `aws ssm start-session`, then the script in docs/verify.md",
            )
        return section

    def _deployment_info(self) -> host.DeploymentInfo:
        return host.parse_deployment(self._section("deployment"))

    def _database_facts(self) -> host.DatabaseFacts:
        if self._database is None:
            self._database = host.parse_database(self._section("database"))
        return self._database

    def cloud_init(self) -> str:
        return host.parse_cloud_init(self._section("cloud-init"))

    def containers(self) -> str:
        return host.check_containers(self._section("compose-ps"), self._deployment_info())

    def envoy(self) -> str:
        return host.check_envoy(self._section("envoy-clusters"), self._deployment_info().replicas)

    def database_tls(self) -> str:
        return host.check_database_tls(self._database_facts())

    def database_tables(self) -> str:
        return host.check_database_tables(self._database_facts())
