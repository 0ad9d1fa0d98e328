"""`python -m orthweb plan` as a user runs it: exit status, one-line errors, JSON shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orthweb.commands.cli import main
from orthweb.host.bundle import HostBundle
from orthweb.host.layout import HOST_FILES

PROJECT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "orthweb", *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--set", 'deploymentOptions={"orthancReplicas": 40}'], "orthweb:deploymentOptions.orthancReplicas"),
        (["--set", "vpcCidr=172.27.0.0/8"], "orthweb:vpcCidr"),
        (["--set", "pubkeyPath=/nonexistent/key.pub"], "orthweb:pubkeyPath"),
        (["--stack", "missing"], "--stack"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(empty_home: Path, args: list[str], named: str) -> None:
    result = run_cli("plan", *args, home=empty_home)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in result.stderr


def test_plan_json_lists_the_stack(
    empty_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(empty_home))
    assert main(["plan", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    types = [r["type"] for r in document["resources"]]
    for token, count in {
        "aws:ec2/vpc:Vpc": 1,
        "aws:ec2/subnet:Subnet": 4,
        "aws:ec2/routeTable:RouteTable": 2,
        "aws:ec2/vpcEndpoint:VpcEndpoint": 1,  # the S3 gateway; the Secrets Manager one is opt-in
        "aws:ec2/flowLog:FlowLog": 1,
        "aws:kms/key:Key": 1,
        "aws:rds/instance:Instance": 1,
        "aws:rds/parameterGroup:ParameterGroup": 1,
        "aws:s3/bucket:Bucket": 4,  # DICOM, logs, host bundles, audit
        "aws:s3/bucketPolicy:BucketPolicy": 4,
        "aws:cloudtrail/trail:Trail": 1,
        "aws:s3/bucketObjectv2:BucketObjectv2": 2,  # one bundle per host
        # The hosts' role, RDS enhanced monitoring's, AWS Backup's, the audit copy's.
        "aws:iam/role:Role": 4,
        # Envoy's and Orthanc's audit lines to the copy function.
        "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter": 2,
        "aws:lambda/function:Function": 1,
        "aws:sqs/queue:Queue": 1,
        "aws:iam/instanceProfile:InstanceProfile": 1,
        "aws:ec2/instance:Instance": 2,
        "aws:ec2/eip:Eip": 1,
    }.items():
        assert types.count(token) == count, token
    assert {"site_address", "host_info", "s3_bucket", "db_endpoint"} <= set(document["outputs"])
    versions = [r for r in document["resources"] if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion"]
    assert versions and all(v["inputs"]["secretString"] == "[secret]" for v in versions)
    assert all(set(r) == {"type", "name", "parent", "inputs"} for r in document["resources"])


def test_plan_text_shows_counts_settings_and_outputs(
    empty_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(empty_home))
    assert main(["plan", "--stack", "prod"]) == 0
    text = capsys.readouterr().out
    assert "Multi-AZ" in text and "site_address:" in text and "aws:ec2/instance:Instance" in text


@pytest.mark.parametrize(
    ("instance_type", "said"),
    [
        ("t4g.small", "EC2 recovers a host on failed hardware in place (t4g.small supports it)"),
        ("m5d.large", "none: EC2 cannot recover m5d.large"),
        ("c6in.large", "decided by `pulumi up` from EC2's data for c6in.large (not known offline)"),
    ],
)
def test_plan_says_what_a_failed_status_check_does(
    empty_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    instance_type: str,
    said: str,
) -> None:
    monkeypatch.setenv("HOME", str(empty_home))
    assert main(["plan", "--set", f"deploymentOptions.instanceType={instance_type}"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("EC2 recovery")]
    assert said in line


def test_plan_out_writes_what_each_host_receives(
    empty_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(empty_home))
    assert main(["plan", "--out", str(tmp_path), "--set", 'deploymentOptions={"orthancReplicas": 2}']) == 0
    capsys.readouterr()
    for role in ("primary", "secondary"):
        folder = tmp_path / role
        for name in ("cloud-init.yaml", "envoy.yaml", "orthanc.json", "docker-compose.yml", "FILES.txt"):
            assert (folder / name).is_file(), f"{role}/{name}"
        compose = (folder / "docker-compose.yml").read_text()
        assert "orthanc-2:" in compose and "orthanc-3:" not in compose
        cloud_config = yaml.safe_load((folder / "cloud-init.yaml").read_text())
        written = {entry["path"]: entry["content"] for entry in cloud_config["write_files"]}
        assert written["/opt/orthweb/bootstrap.sh"] == (folder / "bootstrap.sh").read_text()
        deployment = json.loads((folder / "deployment.json").read_text())
        assert deployment["host_role"] == role
        # The other files are the bundle user data names, byte for byte.
        bundle = HostBundle({file.name: (folder / file.name).read_text() for file in HOST_FILES})
        assert deployment["bundle"]["sha256"] == bundle.sha256
        for file in folder.iterdir():
            assert "PRIVATE KEY" not in file.read_text(), file
