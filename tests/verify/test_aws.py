"""The AWS side of verify against a moto server on 127.0.0.1: discovery by tags, S3 heads, SSM.

What moto 5 does with SSM Run Command (measured here): `send_command` accepts any instance id and
document and records the parameters; `get_command_invocation` answers at once with Status
"Success", ResponseCode 0 and *empty* StandardOutputContent: the script never runs (and an
`exit 3` in it changes nothing). `describe_instance_information` is not implemented (HTTP 500),
and a command sent to one instance is recorded against every instance of the region.
So the host checks are tested with a local runner (test_verify_runtime.py) and the polling here
with a stub client.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orthweb.ops.verify import host
from orthweb.ops.verify.aws import AwsStack, SsmRunner
from orthweb.ops.verify.host import HostLayout
from orthweb.ops.verify.model import CheckFailed
from orthweb.ops.verify.settings import Endpoint
from orthweb.ops.verify.verifier import Verifier
from tests.fake_clock import FakeClock
from tests.verify.conftest import REGION, SeededStack, seed_stack


def test_locate_finds_everything_by_tags(moto_stack: SeededStack) -> None:
    found = AwsStack(moto_stack.clients, moto_stack.name).locate()
    assert found.site_address == moto_stack.site_ip
    assert (found.serving_role, found.serving_instance) == ("primary", moto_stack.primary)
    assert found.dicom_bucket == moto_stack.bucket
    assert found.key_arn == moto_stack.key_arn and found.key_alias == "alias/orthweb-awsonly"
    assert found.admin.username == "a" and found.admin.password == "b"
    assert found.credentials_secret == moto_stack.credentials_secret
    assert "BEGIN CERTIFICATE" in found.certificate_pem
    assert "password" not in repr(found) and "'b'" not in repr(found.admin)


def test_locate_ignores_look_alike_buckets(moto_stack: SeededStack) -> None:
    s3 = moto_stack.clients.s3
    s3.create_bucket(Bucket="orthweb-awsonly-dicom-untagged", CreateBucketConfiguration={"LocationConstraint": REGION})
    assert AwsStack(moto_stack.clients, moto_stack.name).locate().dicom_bucket == moto_stack.bucket


def test_a_restored_stack_checks_objects_against_its_data_key(local_aws, site_pem, moto_stack: SeededStack) -> None:
    """A restored stack's objects are encrypted with its source's key, which the stack names by the
    alias `alias/orthweb-<stack>-data`: that key is the one verify expects; a stack without the
    alias is held to its own key."""
    restored = seed_stack(
        local_aws, "restored", certificate_pem=site_pem[0], private_key_pem=site_pem[1], admin=("a", "b")
    )
    kms = restored.clients.kms
    source_key = kms.create_key(Description="the source stack's key")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/orthweb-restored-data", TargetKeyId=source_key)
    found = AwsStack(restored.clients, "restored").locate()
    assert found.key_arn == source_key != restored.key_arn and found.key_alias == "alias/orthweb-restored-data"
    assert AwsStack(restored.clients, moto_stack.name).locate().key_alias == "alias/orthweb-awsonly"


def test_unknown_stack_is_a_clear_failure(moto_stack: SeededStack) -> None:
    with pytest.raises(CheckFailed, match=r"found no Elastic IP tagged .* orthweb:stack=nosuch") as failed:
        AwsStack(moto_stack.clients, "nosuch").locate()
    assert "--stack" in failed.value.hint


def test_serving_host_follows_the_elastic_ip(local_aws, site_pem) -> None:
    seeded = seed_stack(local_aws, "moved", certificate_pem=site_pem[0], private_key_pem=site_pem[1], admin=("a", "b"))
    ec2 = seeded.clients.ec2
    allocation = ec2.describe_addresses(PublicIps=[seeded.site_ip])["Addresses"][0]["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=seeded.secondary, AllowReassociation=True)
    found = AwsStack(seeded.clients, "moved").locate()
    assert (found.serving_role, found.serving_instance) == ("secondary", seeded.secondary)
    ec2.stop_instances(InstanceIds=[seeded.secondary])
    with pytest.raises(CheckFailed, match=r"secondary host .* is stopped") as failed:
        AwsStack(seeded.clients, "moved").locate()
    assert "start-instances" in failed.value.hint


def test_find_object_reports_encryption(moto_stack: SeededStack) -> None:
    s3 = moto_stack.clients.s3
    s3.put_object(Bucket=moto_stack.bucket, Key="0a1b.dcm", Body=b"DICM")
    backend = AwsStack(moto_stack.clients, moto_stack.name)
    found = backend.find_object(moto_stack.bucket, ["0a1b.dcm", "0a1b"])
    assert found is not None and found.key == "0a1b.dcm" and found.size == 4
    assert (found.encryption, found.kms_key_id) == ("aws:kms", moto_stack.key_arn)
    assert backend.find_object(moto_stack.bucket, ["missing.dcm", "missing"]) is None


# --- SSM ---------------------------------------------------------------------------------------------


def test_moto_ssm_accepts_the_command_but_returns_canned_output(moto_stack: SeededStack) -> None:
    script = host.host_script(HostLayout())
    output = SsmRunner(moto_stack.clients.ssm, poll=0.01).run(moto_stack.primary, script + "exit 3\n", 10)
    assert (output.status, output.exit_code, output.stdout, output.refusal) == ("Success", 0, "", "")
    sent = moto_stack.clients.ssm.list_commands()["Commands"][-1]
    assert sent["DocumentName"] == "AWS-RunShellScript"
    assert sent["Parameters"]["commands"] == [script + "exit 3\n"]
    # moto 5.2 adds every EC2 instance of the region to a command sent without Targets (its empty
    # target filter matches all); real SSM runs it on the one instance asked for.
    assert moto_stack.primary in sent["InstanceIds"]


def test_verify_on_moto_alone(moto_stack: SeededStack) -> None:
    """No host behind the stack: every check that needs one fails and says where to look."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    verifier = Verifier(
        AwsStack(moto_stack.clients, moto_stack.name),
        SsmRunner(moto_stack.clients.ssm, poll=0.01),
        endpoint=Endpoint(connect_host="127.0.0.1", https_port=closed, dicom_port=closed),
    )
    report = verifier.run()
    status = {r.id: r.status for r in report.results}
    assert status["stack.find"] == "pass" and not report.ok
    tls = next(r for r in report.results if r.id == "site.tls")
    assert tls.status == "fail" and "webAllowedCidrs" in tls.hint and "Connection refused" in tls.detail
    assert status["dicom.echo"] == "fail" and status["dicom.store"] == "skip"
    cloud = next(r for r in report.results if r.id == "host.cloud-init")
    assert cloud.status == "fail" and "no 'cloud-init' section (0 characters" in cloud.detail


class StubSsm:
    """Just enough of the SSM client for SsmRunner's polling."""

    def __init__(self, answers: list[Any], send_error: str | None = None) -> None:
        self.answers = answers
        self.send_error = send_error
        self.polls = 0

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        if self.send_error:
            raise ClientError({"Error": {"Code": self.send_error, "Message": "nope"}}, "SendCommand")
        return {"Command": {"CommandId": "c-1", "Status": "Pending"}}

    def get_command_invocation(self, **kwargs: Any) -> dict[str, Any]:
        answer = self.answers[min(self.polls, len(self.answers) - 1)]
        self.polls += 1
        if isinstance(answer, str):
            raise ClientError({"Error": {"Code": answer, "Message": answer}}, "GetCommandInvocation")
        return answer


def test_ssm_runner_waits_for_the_invocation() -> None:
    done = {"Status": "Success", "ResponseCode": 0, "StandardOutputContent": "out", "StandardErrorContent": ""}
    stub = StubSsm(["InvocationDoesNotExist", {"Status": "InProgress"}, done])
    clock = FakeClock()
    output = SsmRunner(stub, poll=1, sleep=clock.sleep, clock=clock).run("i-1", "true", 30)
    assert (output.status, output.stdout, stub.polls) == ("Success", "out", 3)


def test_ssm_runner_gives_up_after_the_timeout() -> None:
    clock = FakeClock()
    output = SsmRunner(StubSsm([{"Status": "InProgress"}]), poll=5, sleep=clock.sleep, clock=clock).run(
        "i-1", "true", 30
    )
    assert "did not finish within 30 s" in output.refusal and clock.now <= 35


def test_ssm_runner_explains_an_unmanaged_instance() -> None:
    output = SsmRunner(StubSsm([], send_error="InvalidInstanceId")).run("i-1", "true", 30)
    assert "AmazonSSMManagedInstanceCore" in output.refusal


def test_command_without_a_region_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from orthweb.commands.cli import main

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    # A stack without a Pulumi.<stack>.yaml here: its region can only come from AWS settings.
    assert main(["verify", "--stack", "elsewhere"]) == 2
    assert "no AWS region" in capsys.readouterr().err
