"""`orthweb restore` and `orthweb drill` against moto's RDS and S3 (every call they make is one moto
implements; botocore checks each request against the service's model before sending it): bad input
is refused in one line with nothing changed, a restore makes new resources of the same moment and
leaves the live ones alone, a drill compares and removes its scratch resources."""

from __future__ import annotations

import argparse
import datetime
import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from orthweb.commands import drill as drill_command
from orthweb.commands import restore as restore_command
from orthweb.evaluate import PROJECT_ROOT, evaluate
from orthweb.ops.consistency import ConsistencyReport, IndexedFile
from orthweb.ops.site_compare import Site

STACK = "dev"
LIVE_DB = "orthweb-dev-abc123"
LIVE_BUCKET = "orthweb-dev-dicom-1a2b3c4d"


def _next_second() -> datetime.datetime:
    """Now, once the clock has left the second of the last write (S3 times writes to the second)."""
    start = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    while datetime.datetime.now(datetime.UTC) < start + datetime.timedelta(seconds=1):
        time.sleep(0.02)
    return datetime.datetime.now(datetime.UTC)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        rds, s3 = boto3.client("rds", region_name="us-east-1"), boto3.client("s3", region_name="us-east-1")
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key()["KeyMetadata"]["Arn"]
        rds.create_db_instance(
            DBInstanceIdentifier=LIVE_DB,
            Engine="postgres",
            DBInstanceClass="db.t4g.micro",
            AllocatedStorage=20,
            MasterUsername="orthanc",
            MasterUserPassword="not-a-real-one",
            BackupRetentionPeriod=7,
            Tags=[{"Key": "orthweb:stack", "Value": STACK}],
        )
        s3.create_bucket(Bucket=LIVE_BUCKET)
        s3.put_bucket_versioning(Bucket=LIVE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_tagging(
            Bucket=LIVE_BUCKET,
            Tagging={"TagSet": [{"Key": "orthweb:stack", "Value": STACK}, {"Key": "orthweb:role", "Value": "dicom"}]},
        )
        rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}
        s3.put_bucket_encryption(Bucket=LIVE_BUCKET, ServerSideEncryptionConfiguration={"Rules": [rule]})
        for name in ("a", "b"):
            s3.put_object(Bucket=LIVE_BUCKET, Key=f"{name}.dcm", Body=f"instance {name}".encode())
        yield {"rds": rds, "s3": s3, "key": key}


def state(aws: dict[str, Any]) -> tuple[list[str], list[str]]:
    databases = [d["DBInstanceIdentifier"] for d in aws["rds"].describe_db_instances()["DBInstances"]]
    buckets = [b["Name"] for b in aws["s3"].list_buckets()["Buckets"]]
    return sorted(databases), sorted(buckets)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with the dev stack's file, and a PATH without the pulumi CLI."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.dev.yaml"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return root


def restore(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path, site: Any = None, **given: Any
) -> tuple[int, str, str]:
    args = argparse.Namespace(**{"stack": STACK, "region": None, "yes": True, "into": None, "resume": None, **given})
    out = io.StringIO()
    code = restore_command.run(args, clients=aws, out=out, project=project, site=site)
    return code, out.getvalue(), capsys.readouterr().err


@pytest.mark.parametrize(
    ("to_time", "says"),
    [
        ("yesterday", "is not a time with its zone"),
        ("2026-12-06T12:30:00", "is not a time with its zone"),
        ("2000-01-01T00:00:00Z", "is outside the recovery window"),
        ("2999-01-01T00:00:00+02:00", "is outside the recovery window"),
    ],
)
def test_a_time_it_cannot_restore_to_is_refused_in_one_line(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path, to_time: str, says: str
) -> None:
    before = state(aws)
    code, out, err = restore(aws, capsys, project, to_time=to_time)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("orthweb restore: ") and says in err
    assert err.rstrip().endswith("nothing was changed")
    assert state(aws) == before


def test_the_window_is_named_when_a_time_is_outside_it(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    _, _, err = restore(aws, capsys, project, to_time="2000-01-01T00:00:00Z")
    assert "a moment from 2026-" in err or "a moment from 20" in err
    created = aws["rds"].describe_db_instances(DBInstanceIdentifier=LIVE_DB)["DBInstances"][0]["InstanceCreateTime"]
    assert created.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") <= err.split("a moment from ")[1][:20]


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_an_unknown_stack_is_refused_in_one_line(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path, stack: str
) -> None:
    before = state(aws)
    code, _, err = restore(aws, capsys, project, stack=stack, to_time="2026-12-06T12:30:00Z")
    assert code == 1 and err.count("\n") == 1
    assert f"no database of stack '{stack}'" in err and "nothing was changed" in err
    assert state(aws) == before


def test_a_bad_stack_name_is_refused_before_any_call(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(stack="Not A Stack", region=None, yes=True, to_time="2026-12-06T12:30:00Z", resume=None)
    assert restore_command.run(args, clients=None, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lower-case letters, digits and single hyphens" in err


def test_a_drill_compares_and_removes_its_scratch_resources(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    _next_second()
    before = state(aws)
    out = io.StringIO()
    args = argparse.Namespace(stack=STACK, region=None, yes=True)
    code = drill_command.run(args, clients=aws, out=out)
    assert code == 0, capsys.readouterr().err
    text = out.getvalue()
    assert "drill passed" in text and "objects: live 2, restored 2; 2 compared byte for byte, 0 different" in text
    assert "recovery time" in text and "recovery point" in text
    assert state(aws) == before


def test_a_drill_for_an_unknown_stack_is_refused_in_one_line(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    before = state(aws)
    args = argparse.Namespace(stack="prod", region=None, yes=True)
    assert drill_command.run(args, clients=aws, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no database of stack 'prod'" in err
    assert state(aws) == before


def test_without_a_terminal_the_question_is_refused_naming_the_flag() -> None:
    """restore and drill ask before changing anything; in a pipe or CI they stop and name --yes."""
    from orthweb.commands.common import confirmed_on_terminal
    from orthweb.ops.aws import OpsError

    with pytest.raises(OpsError, match=r"pass --yes to run the drill non-interactively"):
        confirmed_on_terminal("Run the drill?", non_interactive="run the drill")


# --- restore into a new stack: its data, its stack file, then pulumi up, wait, verify, compare --------


def after_the_moment(aws: dict[str, Any]) -> datetime.datetime:
    """The moment, then (in a later second: S3 times writes to the second) a new object and one deleted."""
    moment = _next_second()
    _next_second()
    aws["s3"].put_object(Bucket=LIVE_BUCKET, Key="later.dcm", Body=b"later")
    aws["s3"].delete_object(Bucket=LIVE_BUCKET, Key="a.dcm")
    return moment


def restored_bucket(aws: dict[str, Any], before: tuple[list[str], list[str]]) -> str:
    (bucket,) = set(state(aws)[1]) - set(before[1])
    return bucket


def test_without_pulumi_the_data_is_restored_and_the_way_to_finish_printed(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path, empty_home: Path
) -> None:
    before = state(aws)
    moment = after_the_moment(aws)
    code, out, err = restore(aws, capsys, project, to_time=moment.isoformat())
    assert code == restore_command.NOT_DEPLOYED, err
    new_stack = f"dev-r{moment:%m%d%H%M}"
    bucket = restored_bucket(aws, before)
    # No database is made by restore itself: `pulumi up` of the new stack restores it.
    assert state(aws)[0] == before[0]
    s3 = aws["s3"]
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]} == {"a.dcm", "b.dcm"}
    assert s3.get_object(Bucket=bucket, Key="a.dcm")["Body"].read() == b"instance a"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == aws["key"]
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    # The live data is as it was.
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=LIVE_BUCKET)["Contents"]} == {"b.dcm", "later.dcm"}
    # The new stack's file evaluates to a stack restoring the live database at the moment and adopting
    # exactly this bucket, with exactly the tags restore gave it (an import fails on any difference).
    written = yaml.safe_load((project / f"Pulumi.{new_stack}.yaml").read_text())["config"]
    assert (
        written["orthweb:deploymentOptions"]
        == yaml.safe_load((project / "Pulumi.dev.yaml").read_text())["config"]["orthweb:deploymentOptions"]
    )
    evaluation = evaluate(new_stack, project_dir=project, home=empty_home)
    database = evaluation.one("aws:rds/instance:Instance")
    assert database.inputs["restoreToPointInTime"] == {
        "sourceDbInstanceIdentifier": LIVE_DB,
        "restoreTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    adopted = next(b for b in evaluation.of_type("aws:s3/bucket:Bucket") if b.import_id)
    assert adopted.import_id == bucket
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == adopted.inputs["tags"]
    # What to run, in order, naming the new stack and how to resume.
    assert f"pulumi stack select --create {new_stack}" in out and f"pulumi up --stack {new_stack}" in out
    assert out.index("pulumi up") < out.index(f"restore --resume {new_stack}")
    assert "2 objects" in out and "the pulumi CLI is not on PATH" in out


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"to_time": None}, "give --to-time"),
        ({"into": "Bad Name"}, "--into"),
        ({"into": "dev"}, "Pulumi.dev.yaml exists already: pass --resume dev"),
        ({"resume": "nosuch"}, "--resume nosuch: no Pulumi.nosuch.yaml"),
        ({"resume": "dev"}, "its stack file has no restoreFrom"),
    ],
)
def test_bad_restore_arguments_are_refused_in_one_line(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path, given: dict[str, Any], says: str
) -> None:
    before = state(aws)
    code, _, err = restore(aws, capsys, project, **{"to_time": _next_second().isoformat(), **given})
    assert code == 1 and err.count("\n") == 1 and says in err and "nothing was changed" in err, err
    assert state(aws) == before and sorted(p.name for p in project.glob("Pulumi.*.yaml")) == ["Pulumi.dev.yaml"]


def test_a_project_without_the_stacks_file_is_refused(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    (project / "Pulumi.dev.yaml").unlink()
    before = state(aws)
    code, _, err = restore(aws, capsys, project, to_time=_next_second().isoformat())
    assert code == 1 and "no Pulumi.dev.yaml in" in err and state(aws) == before


class RecordingSteps:
    """A stand-in that writes each step it is asked for into `log`, in order."""

    log: Path

    def _note(self, step: str) -> None:
        with self.log.open("a") as log:
            log.write(step + "\n")

    def wait(self, stack: str) -> Any:
        self._note(f"wait {stack}")
        return argparse.Namespace(stack=stack)


class FakeSite(RecordingSteps):
    """The restored site as restore checks it, recording the order of the steps into `log`."""

    def __init__(self, log: Path, *, verified: int = 0, report: ConsistencyReport | None = None) -> None:
        self.log, self.verified = log, verified
        self.report = report or ConsistencyReport(indexed=2, stored=2, missing=(), orphans=())

    def verify(self, stack: str) -> int:
        self._note(f"verify {stack}")
        return self.verified

    def consistency(self, deployment: Any) -> ConsistencyReport:
        self._note(f"consistency {deployment.stack}")
        return self.report


def stub_pulumi(project: Path, log: Path, *, fail_on: str = "") -> None:
    """A `pulumi` on PATH that only writes its arguments to `log` (and fails the step `fail_on`):
    this tests restore's order of steps and its messages, never what the Pulumi CLI does."""
    script = project.parent / "bin" / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "pulumi $*" >> {log}\n'
        'echo "Outputs: token=xoxb-a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"\n'
        f'case "$*" in *"{fail_on or "never-fails"}"*) exit 7;; esac\n'
    )
    script.chmod(0o755)


def test_with_pulumi_the_stack_is_deployed_then_waited_for_verified_and_compared(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    log = project / "steps.log"
    stub_pulumi(project, log)
    moment = _next_second()
    code, out, err = restore(aws, capsys, project, site=FakeSite(log), to_time=moment.isoformat(), into="dev-copy")
    assert code == 0, err
    assert log.read_text().splitlines() == [
        "pulumi stack select --create dev-copy --non-interactive",
        "pulumi up --yes --stack dev-copy --non-interactive",
        "wait dev-copy",
        "verify dev-copy",
        "consistency dev-copy",
    ]
    assert "index and storage agree: 2 attachments, 2 objects" in out
    assert "Stack dev-copy serves the data of" in out
    # Pulumi's output is shown through the redaction point.
    assert "Outputs: " in out and "xoxb-a1B2c3D4" not in out


def test_a_failed_pulumi_up_stops_before_the_site_is_checked(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    log = project / "steps.log"
    stub_pulumi(project, log, fail_on="up --yes")
    code, _, err = restore(aws, capsys, project, site=FakeSite(log), to_time=_next_second().isoformat())
    assert code == 1 and "pulumi up --yes --stack" in err and "exited with status 7" in err
    assert "nothing was changed" not in err
    assert not any(line.startswith(("wait", "verify")) for line in log.read_text().splitlines())


def test_a_difference_or_a_failed_verify_fails_the_restore_with_what_to_do(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    log = project / "steps.log"
    stub_pulumi(project, log)
    missing = IndexedFile(instance_id="1a2b", attachment="dicom", uuid="u-1")
    report = ConsistencyReport(indexed=1, stored=1, missing=(missing,), orphans=("o-2.dcm",))
    code, out, _ = restore(aws, capsys, project, site=FakeSite(log, report=report), to_time=_next_second().isoformat())
    assert code == 1 and "but index and storage differ" in out
    assert "missing: instance 1a2b (dicom, object u-1.dcm)" in out and "orphan: object o-2.dcm" in out
    code, out, _ = restore(aws, capsys, project, site=FakeSite(log, verified=1), resume=f"dev-r{_stamp(project)}")
    assert code == 1 and "but verify failed" in out


def _stamp(project: Path) -> str:
    (name,) = [p.name for p in project.glob("Pulumi.dev-r*.yaml")]
    return name.removeprefix("Pulumi.dev-r").removesuffix(".yaml")


def test_resume_deploys_the_written_stack_without_copying_again(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    code, _, _ = restore(aws, capsys, project, to_time=_next_second().isoformat())
    assert code == restore_command.NOT_DEPLOYED
    copied = state(aws)
    log = project / "steps.log"
    stub_pulumi(project, log)
    new_stack = f"dev-r{_stamp(project)}"
    code, _, err = restore(aws, capsys, project, site=FakeSite(log), to_time=None, resume=new_stack)
    assert code == 0, err
    assert state(aws) == copied
    assert log.read_text().splitlines()[:2] == [
        f"pulumi stack select --create {new_stack} --non-interactive",
        f"pulumi up --yes --stack {new_stack} --non-interactive",
    ]


def test_encrypted_settings_are_not_copied_and_named_to_set_again(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    source = project / "Pulumi.dev.yaml"
    source.write_text(source.read_text() + "  orthweb:siteCertificateKey:\n    secure: v1:abc:def\n")
    log = project / "steps.log"
    stub_pulumi(project, log)
    code, out, _ = restore(aws, capsys, project, site=FakeSite(log), to_time=_next_second().isoformat())
    assert code == restore_command.NOT_DEPLOYED and not log.exists()
    assert "orthweb:siteCertificateKey must be set again" in out
    assert "pulumi config set --secret --stack dev-r" in out and "orthweb:siteCertificateKey <value>" in out
    (written,) = project.glob("Pulumi.dev-r*.yaml")
    assert "secure" not in written.read_text()


# --- the drill through a scratch stack: its site against the live one, then removed ---------------


class FakeDrillSites(RecordingSteps):
    """The live and the scratch stacks' sites: each stack's /statistics and instance files."""

    def __init__(self, log: Path, files: dict[str, dict[str, bytes]]) -> None:
        self.log, self.files = log, files

    def live(self, stack: str) -> Any:
        self._note(f"live {stack}")
        return argparse.Namespace(stack=stack)

    def site(self, deployment: Any) -> Site:
        files = self.files[deployment.stack]
        statistics = {"CountPatients": 1, "CountStudies": 1, "CountSeries": 1, "CountInstances": len(files)}
        answers = {"/statistics": statistics, "/instances": sorted(files)}
        return Site(
            get_json=lambda path: answers[path],
            get_bytes=lambda path: files.get(path.split("/")[2]),
        )


def drill(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path, sites: FakeDrillSites
) -> tuple[int, str, str]:
    out = io.StringIO()
    args = argparse.Namespace(stack=STACK, region=None, yes=True)
    code = drill_command.run(args, clients=aws, out=out, project=project, sites=sites)
    return code, out.getvalue(), capsys.readouterr().err


SAME = {"i1": b"one", "i2": b"two", "i3": b"three"}


def test_a_drill_serves_a_scratch_stack_compares_its_site_and_removes_it(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    _next_second()
    before = state(aws)
    log = project / "steps.log"
    stub_pulumi(project, log)
    code, out, err = drill(aws, capsys, project, FakeDrillSites(log, {"dev": SAME, "dev-drill": dict(SAME)}))
    assert code == 0, err
    assert log.read_text().splitlines() == [
        "pulumi stack select --create dev-drill --non-interactive",
        "pulumi up --yes --stack dev-drill --non-interactive",
        "wait dev-drill",
        "live dev",
        "pulumi destroy --yes --stack dev-drill --non-interactive",
        "pulumi stack rm --yes dev-drill --non-interactive",
    ]
    assert "drill passed" in out and "(recovery time)" in out and "(recovery point)" in out
    assert "restored site: patients 1, studies 1, series 1, instances 3" in out
    assert "3 instances compared byte for byte, 0 different" in out
    # The scratch bucket (kept by destroy, as every adopted bucket is) and the stack file are gone.
    assert state(aws) == before and sorted(p.name for p in project.glob("Pulumi.*.yaml")) == ["Pulumi.dev.yaml"]


def test_a_drill_of_a_prod_stack_rehearses_on_a_dev_stack_destroy_removes_entirely(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    source = project / "Pulumi.dev.yaml"
    source.write_text(source.read_text().replace("orthweb:environment: dev", "orthweb:environment: prod"))
    log = project / "steps.log"
    stub_pulumi(project, log, fail_on="destroy")
    _next_second()
    code, out, _ = drill(aws, capsys, project, FakeDrillSites(log, {"dev": SAME, "dev-drill": dict(SAME)}))
    # The stub's destroy fails, so the file stays to be seen: it deploys a dev stack.
    written = yaml.safe_load((project / "Pulumi.dev-drill.yaml").read_text())["config"]
    assert written["orthweb:environment"] == "dev" and code == 1 and "drill passed" in out
    assert "could not remove the scratch stack dev-drill" in out and "pulumi destroy --stack dev-drill" in out


def test_a_drill_names_each_difference_and_fails(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    _next_second()
    log = project / "steps.log"
    stub_pulumi(project, log)
    live = {**SAME, "i4": b"written after the moment"}
    restored = {**SAME, "i2": b"not the same bytes"}
    code, out, _ = drill(aws, capsys, project, FakeDrillSites(log, {"dev": live, "dev-drill": restored}))
    assert code == 1 and "drill FAILED" in out
    assert "instances: live 4, restored 3 (written or deleted after the restored moment)" in out
    assert "different: instance i2" in out and "1 different" in out


def test_a_drill_whose_stack_fails_to_deploy_still_removes_it(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    _next_second()
    before = state(aws)
    log = project / "steps.log"
    stub_pulumi(project, log, fail_on="up --yes")
    code, _, err = drill(aws, capsys, project, FakeDrillSites(log, {}))
    assert code == 1 and "exited with status 7" in err
    assert "pulumi destroy --yes --stack dev-drill --non-interactive" in log.read_text()
    assert state(aws) == before and not list(project.glob("Pulumi.dev-drill.yaml"))
