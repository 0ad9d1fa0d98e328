"""The host script and the parsers of what it prints (cloud-init, compose, Envoy, psql), offline."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from orthweb.host.render import render_host_files
from orthweb.ops.verify import host
from orthweb.ops.verify.host import DeploymentInfo, HostLayout, Section
from orthweb.ops.verify.model import CheckFailed
from tests.verify.conftest import CLOUD_INIT_DONE, ENVOY_IMAGE, ORTHANC_IMAGE, verify_context

DEPLOYED = DeploymentInfo(replicas=3, orthanc_image=ORTHANC_IMAGE, envoy_image=ENVOY_IMAGE)

# cloud-init 23.4+ on error (AL2023 ships 22.2, which prints the same keys minus the extended ones).
CLOUD_INIT_ERROR = """\
status: error
extended_status: error - done
boot_status_code: enabled-by-generator
last_update: Tue, 10 Jun 2025 09:12:31 +0000
detail:
DataSourceEc2Local
errors:
\t- ('scripts_user', RuntimeError('Runparts: 1 failures (part-001) in 1 attempted commands'))
recoverable_errors: {}
"""
CLOUD_INIT_RUNNING = "status: running\nboot_status_code: enabled-by-generator\ndetail:\nDataSourceEc2Local\n"

# Envoy 1.40 admin /clusters, filtered like the host script (from the runtime harness; on a host
# the addresses are the compose network's and `::hostname::` lines name the services).
ENVOY_HEALTHY = """\
orthanc_http::172.18.0.3:8042::hostname::orthanc-1
orthanc_http::172.18.0.3:8042::health_flags::healthy
orthanc_http::172.18.0.4:8042::hostname::orthanc-2
orthanc_http::172.18.0.4:8042::health_flags::healthy
orthanc_http::172.18.0.5:8042::hostname::orthanc-3
orthanc_http::172.18.0.5:8042::health_flags::healthy
orthanc_dicom::172.18.0.3:4242::hostname::orthanc-1
orthanc_dicom::172.18.0.3:4242::health_flags::healthy
orthanc_dicom::172.18.0.4:4242::hostname::orthanc-2
orthanc_dicom::172.18.0.4:4242::health_flags::healthy
orthanc_dicom::172.18.0.5:4242::hostname::orthanc-3
orthanc_dicom::172.18.0.5:4242::health_flags::healthy
"""


def section(name: str, text: str, code: int | None = 0) -> Section:
    return Section(name, text, code)


def container(service: str, image: str, state: str = "running", health: str = "healthy") -> dict[str, object]:
    return {
        "Name": f"orthweb-{service}-1",
        "Service": service,
        "Image": image,
        "State": state,
        "Health": health,
        "Status": "Up 2 hours",
    }


def compose_lines(*containers: dict[str, object]) -> str:
    return "\n".join(json.dumps(c) for c in containers)


def all_containers(**changes: dict[str, object]) -> list[dict[str, object]]:
    found = [container("envoy", ENVOY_IMAGE, health="")]
    found += [container(f"orthanc-{i}", ORTHANC_IMAGE) for i in (1, 2, 3)]
    return [{**c, **changes.get(str(c["Service"]).replace("-", "_"), {})} for c in found]


# --- script -----------------------------------------------------------------------------------------


def test_script_is_valid_bash_and_frames_every_section() -> None:
    script = host.host_script(HostLayout())
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    for name in host.SECTIONS:
        assert f"{host.BEGIN} {name}" in script and f"{host.END} {name}" in script
    assert script.rstrip().endswith("exit 0")  # SSM status Success means "the script ran"


def test_script_reports_each_section_exit_code(tmp_path) -> None:
    layout = HostLayout(deployment_file=str(tmp_path / "missing.json"))
    done = subprocess.run(["bash", "-c", host.host_script(layout)], capture_output=True, text=True, check=True)
    sections = host.split_sections(done.stdout)
    assert set(sections) == set(host.SECTIONS)
    assert sections["deployment"].exit_code == 1
    assert "missing.json" in sections["deployment"].text


def test_script_carries_no_secret_value_and_passes_the_password_by_name() -> None:
    script = host.host_script(HostLayout())
    assert "PGPASSWORD=$(jq -r . /etc/orthweb/secrets/ORTHANC__POSTGRESQL__PASSWORD)" in script
    assert "-e PGPASSWORD " in script and "docker run --rm" in script
    assert "set -x" not in script


def test_layout_matches_the_rendered_host_files() -> None:
    files = render_host_files(verify_context())
    envoy = yaml.safe_load(files["envoy.yaml"])
    assert envoy["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": host.ENVOY_ADMIN_PORT}
    replica_clusters = {c["name"] for c in envoy["static_resources"]["clusters"] if c["name"] != "envoy_admin"}
    assert replica_clusters == set(host.CLUSTERS)  # envoy_admin serves the metrics listener only
    compose = yaml.safe_load(files["docker-compose.yml"])
    secrets = set(compose["secrets"])
    for name in ("HOST", "PORT", "DATABASE", "USERNAME", "PASSWORD"):
        assert f"ORTHANC__POSTGRESQL__{name}" in secrets
        assert compose["secrets"][f"ORTHANC__POSTGRESQL__{name}"]["file"].startswith(HostLayout().secrets_dir + "/")
    assert HostLayout().compose in files["docker-compose.yml"]  # the compose file's own usage line


def test_split_sections_and_truncated_output() -> None:
    text = f"{host.BEGIN} a\nline 1\n\n{host.END} a 0\n{host.BEGIN} b\nhalf"
    found = host.split_sections(text)
    assert found["a"] == Section("a", "line 1", 0)
    assert found["b"].exit_code is None and found["b"].text == "half"


# --- cloud-init -------------------------------------------------------------------------------------


def test_cloud_init_done() -> None:
    assert host.parse_cloud_init(section("cloud-init", CLOUD_INIT_DONE)) == "cloud-init status done, no errors"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CLOUD_INIT_ERROR, "cloud-init status error; errors: ('scripts_user', RuntimeError"),
        (CLOUD_INIT_RUNNING, "cloud-init status running"),
        ("bash: cloud-init: command not found", "no cloud-init status"),
    ],
)
def test_cloud_init_failures_point_at_the_log(text: str, expected: str) -> None:
    with pytest.raises(CheckFailed) as failed:
        host.parse_cloud_init(section("cloud-init", text))
    assert failed.value.detail.startswith(expected)
    assert "/var/log/cloud-init-output.log" in failed.value.hint


# --- containers ------------------------------------------------------------------------------------


def test_containers_ndjson_and_array_formats() -> None:
    containers = all_containers()
    assert "envoy + 3 Orthanc replicas running (3 with" in host.check_containers(
        section("compose-ps", compose_lines(*containers)), DEPLOYED
    )
    host.check_containers(section("compose-ps", json.dumps(containers)), DEPLOYED)  # compose < 2.21


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"orthanc_2": {"State": "exited", "Status": "Exited (137) 3 seconds ago"}}, "orthweb-orthanc-2-1 exited"),
        ({"orthanc_3": {"Health": "unhealthy"}}, "orthweb-orthanc-3-1 unhealthy"),
        ({"orthanc_1": {"Health": "starting"}}, "orthweb-orthanc-1-1 starting"),
        ({"envoy": {"Image": "envoyproxy/envoy:v1.31.0"}}, "envoy runs envoyproxy/envoy:v1.31.0, deployed"),
    ],
)
def test_container_problems(changes: dict[str, dict[str, object]], expected: str) -> None:
    with pytest.raises(CheckFailed) as failed:
        host.check_containers(section("compose-ps", compose_lines(*all_containers(**changes))), DEPLOYED)
    assert expected in failed.value.detail
    assert "journalctl" in failed.value.hint


def test_replica_count_comes_from_the_deployment() -> None:
    two = [c for c in all_containers() if c["Service"] != "orthanc-3"]
    with pytest.raises(CheckFailed, match="orthanc-3 missing"):
        host.check_containers(section("compose-ps", compose_lines(*two)), DEPLOYED)
    with pytest.raises(CheckFailed, match="unexpected services orthanc-3"):
        host.check_containers(
            section("compose-ps", compose_lines(*all_containers())),
            DeploymentInfo(replicas=2, orthanc_image=ORTHANC_IMAGE, envoy_image=ENVOY_IMAGE),
        )


def test_compose_not_answering() -> None:
    with pytest.raises(CheckFailed, match="docker compose ps failed: Cannot connect to the Docker daemon"):
        host.check_containers(
            section("compose-ps", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n{"), DEPLOYED
        )


def test_deployment_file() -> None:
    text = json.dumps({"orthanc_replicas": 3, "orthanc_image": ORTHANC_IMAGE, "envoy_image": ENVOY_IMAGE})
    assert host.parse_deployment(section("deployment", text)) == DEPLOYED
    with pytest.raises(CheckFailed, match=r"deployment\.json unreadable: cat: /etc/orthweb"):
        host.parse_deployment(section("deployment", "cat: /etc/orthweb/deployment.json: No such file or directory"))


# --- Envoy -------------------------------------------------------------------------------------------


def test_envoy_all_healthy() -> None:
    detail = host.check_envoy(section("envoy-clusters", ENVOY_HEALTHY), 3)
    assert detail == "orthanc_http 3/3 healthy, orthanc_dicom 3/3 healthy"


def test_envoy_failed_health_check_names_the_service() -> None:
    text = ENVOY_HEALTHY.replace(
        "orthanc_http::172.18.0.4:8042::health_flags::healthy",
        "orthanc_http::172.18.0.4:8042::health_flags::/failed_active_hc/failed_outlier_check",
    )
    with pytest.raises(CheckFailed) as failed:
        host.check_envoy(section("envoy-clusters", text), 3)
    assert "orthanc_http 2/3 healthy" in failed.value.detail
    assert "orthanc_http: orthanc-2 (172.18.0.4:8042) /failed_active_hc/failed_outlier_check" in failed.value.detail


def test_envoy_knowing_fewer_replicas_is_degraded() -> None:
    text = "\n".join(line for line in ENVOY_HEALTHY.splitlines() if "172.18.0.5" not in line)
    with pytest.raises(CheckFailed, match="Envoy knows 2 of 3 replicas"):
        host.check_envoy(section("envoy-clusters", text), 3)


def test_envoy_admin_not_answering() -> None:
    with pytest.raises(CheckFailed, match="no answer from Envoy's admin interface: Error: No such object"):
        host.check_envoy(section("envoy-clusters", "Error: No such object: ", 1), 3)


# --- database -----------------------------------------------------------------------------------------


PSQL_OK = "self|t|TLSv1.3\nconn|15|15|TLSv1.3\n" + "".join(
    f"table|{t}\n" for t in sorted(host.ORTHANC_TABLES | {"deletedfiles", "patientrecyclingorder"})
)


def test_database_tls_and_tables() -> None:
    facts = host.parse_database(section("database", PSQL_OK))
    assert host.check_database_tls(facts).startswith("15 Orthanc connections, all TLS (TLSv1.3)")
    assert host.check_database_tables(facts).startswith("9 tables")


def test_database_plain_connections_fail() -> None:
    facts = host.parse_database(section("database", PSQL_OK.replace("conn|15|15|", "conn|15|10|")))
    with pytest.raises(CheckFailed, match="5 of 15 Orthanc connections without TLS") as failed:
        host.check_database_tls(facts)
    assert "EnableSsl" in failed.value.hint


def test_database_without_orthanc() -> None:
    facts = host.parse_database(section("database", "self|t|TLSv1.3\nconn|0|0|\n"))
    with pytest.raises(CheckFailed, match="no Orthanc connection"):
        host.check_database_tls(facts)
    with pytest.raises(CheckFailed, match="Orthanc tables missing: attachedfiles, changes"):
        host.check_database_tables(facts)


def test_database_unreachable_says_where_to_look() -> None:
    text = (
        'psql: error: connection to server at "orthweb-dev-db.abc.eu-west-1.rds.amazonaws.com" (172.27.3.4), '
        "port 5432 failed: timeout expired"
    )
    with pytest.raises(CheckFailed, match="timeout expired") as failed:
        host.parse_database(section("database", text, 2))
    assert "security group" in failed.value.hint and "ORTHANC__POSTGRESQL__" in failed.value.hint
