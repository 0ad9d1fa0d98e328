"""A host of the scale-out group: Envoy answers the load balancer's health checks on their own
port, compose publishes that port, and each host names its Orthanc servers after its instance id."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from orthweb.host.context import HOST_ID_VARIABLE, HostAppContext
from orthweb.host.render import render_host_files
from orthweb.shared.constants import LB_HEALTH_PATH, LB_HEALTH_PORT
from orthweb.shared.telemetry import METRICS_PORT
from tests.static.static_checks import (
    CheckFailed,
    SiteCertificate,
    compose_validate,
    envoy_validate,
    require_tool,
    run,
    with_local_certificates,
)

INSTANCE_ID = "i-0abc1234def567890"


@pytest.fixture(scope="module")
def member(app_context: HostAppContext) -> dict[str, str]:
    return render_host_files(dataclasses.replace(app_context, host_role="member"))


def _listeners(envoy_yaml: str) -> dict[str, dict[str, Any]]:
    return {x["name"]: x for x in yaml.safe_load(envoy_yaml)["static_resources"]["listeners"]}


def test_envoy_accepts_the_group_hosts_configuration(
    member: dict[str, str], site_certificate: SiteCertificate, tmp_path: Path
) -> None:
    envoy_validate(
        with_local_certificates(member["envoy.yaml"], site_certificate.cert_path, site_certificate.key_path), tmp_path
    )


def test_the_health_listener_answers_200_only_while_a_replica_is_healthy(member: dict[str, str]) -> None:
    listener = _listeners(member["envoy.yaml"])["load_balancer_health"]
    assert listener["address"]["socket_address"]["port_value"] == LB_HEALTH_PORT
    (chain,) = listener["filter_chains"]
    assert "transport_socket" not in chain, "the load balancer checks over plain HTTP"
    manager = chain["filters"][0]["typed_config"]
    health, router = manager["http_filters"]
    assert router["name"] == "envoy.filters.http.router"
    config = health["typed_config"]
    assert config["pass_through_mode"] is False
    assert config["headers"] == [{"name": ":path", "string_match": {"exact": LB_HEALTH_PATH}}]
    # Envoy fails the check when 100 x healthy < hosts x percent (percent truncated to an integer):
    # with 1 that is "no replica healthy" for up to 100 replicas, in both clusters.
    assert config["cluster_min_healthy_percentages"] == {"orthanc_http": {"value": 1}, "orthanc_dicom": {"value": 1}}
    (route,) = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert route == {"match": {"prefix": "/"}, "direct_response": {"status": 404}}, "it proxies nothing"


def test_only_group_hosts_have_the_health_listener_and_publish_its_port(
    rendered: dict[str, str], member: dict[str, str]
) -> None:
    assert "load_balancer_health" not in _listeners(rendered["envoy.yaml"])
    ports = {name: yaml.safe_load(files["docker-compose.yml"])["services"]["envoy"]["ports"] for name, files in
             (("failover", rendered), ("member", member))}  # fmt: skip
    metrics = f"127.0.0.1:{METRICS_PORT}:{METRICS_PORT}"  # the CloudWatch agent's scrape, loopback only
    assert ports["failover"] == ["443:443", "11112:11112", metrics]
    assert ports["member"] == ["443:443", "11112:11112", metrics, f"{LB_HEALTH_PORT}:{LB_HEALTH_PORT}"]


def test_compose_names_each_replica_after_the_instance(member: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"{HOST_ID_VARIABLE}={INSTANCE_ID}\n")
    compose_validate(member["docker-compose.yml"], tmp_path)
    cli = require_tool("docker-compose", "apt-get install -y docker-compose")
    done = run([cli, "--project-directory", str(tmp_path), "-f", str(tmp_path / "docker-compose.yml"), "config"])
    services = yaml.safe_load(done.stdout)["services"]
    identities = {
        name: service["environment"]["ORTHANC__DATABASE_SERVER_IDENTIFIER"]
        for name, service in services.items()
        if name.startswith("orthanc-")
    }
    assert identities == {name: f"dev-{INSTANCE_ID}-{name}" for name in identities} and len(identities) == 3


def test_compose_refuses_to_start_a_group_host_without_its_id(member: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match=HOST_ID_VARIABLE):
        compose_validate(member["docker-compose.yml"], tmp_path)


def test_start_writes_the_instance_id_from_the_metadata_service(member: dict[str, str], tmp_path: Path) -> None:
    lines = member["start.sh"].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("imds()"))
    last = next(i for i, line in enumerate(lines) if ".env" in line and line.startswith("printf"))
    snippet = tmp_path / "host-id.sh"
    snippet.write_text("set -euo pipefail\n" + "\n".join(lines[first : last + 1]) + "\n")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    curl = fake_bin / "curl"
    # IMDSv2: a PUT for the token, then the instance id with the token as a header.
    curl.write_text(
        "#!/bin/bash\n"
        'case "$*" in\n'
        '  *"-X PUT"*/latest/api/token*) echo TOKEN ;;\n'
        f'  *"X-aws-ec2-metadata-token: TOKEN"*/meta-data/instance-id*) echo {INSTANCE_ID} ;;\n'
        "  *) exit 22 ;;\n"
        "esac\n"
    )
    curl.chmod(curl.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}", "APP_DIR": str(tmp_path)}
    done = run(["bash", str(snippet)], env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".env").read_text() == f"{HOST_ID_VARIABLE}={INSTANCE_ID}\n"
    curl.write_text("#!/bin/bash\nexit 22\n")
    failed = run(["bash", str(snippet)], env=env)
    assert failed.returncode != 0 and re.search("no instance id", failed.stderr)


OTHER_INSTANCE_ID = "i-0fed9876cba543210"


def _streams(member: dict[str, str], directory: Path, instance_id: str) -> dict[str, str]:
    """The log stream of each container of a group host: compose substitutes .env, then Docker's
    awslogs driver expands the `tag` template for the container compose names <project>-<service>-1."""
    directory.mkdir()
    (directory / ".env").write_text(f"{HOST_ID_VARIABLE}={instance_id}\n")
    (directory / "docker-compose.yml").write_text(member["docker-compose.yml"])
    cli = require_tool("docker-compose", "apt-get install -y docker-compose")
    done = run([cli, "--project-directory", str(directory), "-f", str(directory / "docker-compose.yml"), "config"])
    assert done.returncode == 0, done.stderr
    streams = {}
    for name, service in yaml.safe_load(done.stdout)["services"].items():
        options = service["logging"]["options"]
        assert service["logging"]["driver"] == "awslogs" and "awslogs-stream" not in options
        streams[name] = options["tag"].replace("{{.Name}}", f"orthweb-{name}-1")
    return streams


def test_each_group_host_and_container_writes_its_own_log_stream(member: dict[str, str], tmp_path: Path) -> None:
    """Docker's awslogs driver writes a container's lines to the stream its `tag` names ("tag:
    Specify tag as an alternative to the awslogs-stream option. tag interprets Go template markup,
    such as {{.ID}}, {{.FullID}} or {{.Name}}": Docker docs, Amazon CloudWatch Logs logging
    driver). Every group host runs the same compose file, so a tag made of the host's role put every
    host's Envoy into one stream; each host's streams now start with its instance id."""
    first = _streams(member, tmp_path / "first", INSTANCE_ID)
    second = _streams(member, tmp_path / "second", OTHER_INSTANCE_ID)
    for instance_id, streams in ((INSTANCE_ID, first), (OTHER_INSTANCE_ID, second)):
        assert len(set(streams.values())) == len(streams) == 4, streams
        assert all(stream.startswith(f"{instance_id}/") for stream in streams.values()), streams
    assert not set(first.values()) & set(second.values())


def test_a_failover_host_names_its_streams_after_its_role(rendered: dict[str, str]) -> None:
    services = yaml.safe_load(rendered["docker-compose.yml"])["services"]
    assert {service["logging"]["options"]["tag"] for service in services.values()} == {"primary/{{.Name}}"}
