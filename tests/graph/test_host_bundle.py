"""Each host's application is a content-addressed bundle in a stack-owned bucket; user data is a
small bootstrap that names it.

EC2 accepts at most 16 KiB of user data (Amazon EC2 User Guide, "Run commands when you launch an
EC2 instance with user data input": "User data is limited to 16 KB, in raw form, before it is
base64-encoded"); with every option on, the host files no longer fit. The bundle is one S3 object
per host role, named by its SHA-256 and encrypted with the stack's key; user data names that digest,
so a changed application is new user data, which replaces the host (an instance's
`user_data_replace_on_change`, the group's instance refresh on a new launch template version).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from orthweb.evaluate import Evaluation, RecordedResource, evaluate, plain
from orthweb.evaluate.host_files import BUNDLE_OBJECT, INSTANCE, LAUNCH_TEMPLATE, host_files, user_data_text
from orthweb.shared.constants import BUNDLE_PREFIX, BUNDLE_TAG, MAX_REPLICAS
from orthweb.shared.modalities import MAX_MODALITIES

BUCKET = "orthweb-storage-host-bundles"
READ_GRANT = "orthweb-host-identity-bundle-read"
# Well under EC2's 16 KiB: room for what later features put in user data, none for host files.
USER_DATA_BUDGET_BYTES = 4 * 1024


def hosts(stack: Evaluation) -> list[RecordedResource]:
    return [*stack.of_type(INSTANCE), *stack.of_type(LAUNCH_TEMPLATE)]


def raw_user_data(host: RecordedResource) -> bytes:
    return base64.b64decode(host.inputs["userData" if host.type == LAUNCH_TEMPLATE else "userDataBase64"])


def named_bundle(host: RecordedResource) -> dict[str, str]:
    files = {f["path"]: f["content"] for f in yaml.safe_load(user_data_text(host))["write_files"]}
    return json.loads(files["/etc/orthweb/deployment.json"])["bundle"]


def key_arn(stack: Evaluation) -> str:
    return stack.one("aws:kms/key:Key").state["arn"]


@pytest.fixture(scope="module")
def scaled(empty_home: Path) -> Evaluation:
    return evaluate("dev", {"topology": "scale-out"}, home=empty_home)


@pytest.fixture(scope="module", params=["dev", "prod", "scale-out"])
def each(request: pytest.FixtureRequest, dev: Evaluation, prod: Evaluation, scaled: Evaluation) -> Evaluation:
    return {"dev": dev, "prod": prod, "scale-out": scaled}[request.param]


def largest(topology: str) -> dict[str, Any]:
    """Every option that puts something on a host, at its largest."""
    label = "a" * 61
    options: dict[str, Any] = {
        "orthancReplicas": MAX_REPLICAS,
        "instanceType": "m7g.4xlarge",
        "dbInstanceClass": "db.r6g.2xlarge",
        "secretsManagerEndpoint": True,
        "dicomWeb": True,
        "viewers": ["ohif", "stone"],
    }
    if topology == "scale-out":
        options |= {"groupMaxSize": 20, "groupSize": 20, "groupMinSize": 20, "cpuTargetPercent": 90}
    return {
        "topology": topology,
        "authentication": "sso",
        "ssoAdminEmails": ["pacs-admin@example.org"],
        "siteDomain": f"{label}.{label}.{label}.{label[:58]}.org",
        "dicomModalities": [f"M{i:02d}_{'X' * 12}@10.200.{i}.{200 + i}:{60000 + i}" for i in range(MAX_MODALITIES)],
        "alarmEmails": ["oncall@example.org"],
        **({"secondaryState": "stopped"} if topology == "failover" else {}),
        "deploymentOptions": options,
    }


# --- the bundle each host boots from ----------------------------------------------------------


def test_each_host_boots_from_its_own_content_addressed_bundle(each: Evaluation) -> None:
    objects = {o.inputs["key"]: o for o in each.of_type(BUNDLE_OBJECT)}
    bucket = each.named(BUCKET)
    assert len(objects) == len(hosts(each)) >= 1
    for host in hosts(each):
        named = named_bundle(host)
        obj = objects[f"{BUNDLE_PREFIX}{named['sha256']}.tar"]
        archive = base64.b64decode(obj.inputs["contentBase64"])
        assert hashlib.sha256(archive).hexdigest() == named["sha256"], host.name
        assert named["uri"] == f"s3://{bucket.id}/{obj.inputs['key']}"
        assert obj.inputs["bucket"] == bucket.id
        assert (obj.inputs["serverSideEncryption"], obj.inputs["kmsKeyId"]) == ("aws:kms", key_arn(each))
        assert obj.inputs["bucketKeyEnabled"] is True
        # The host is launched only once its bundle and its permission to read it exist.
        assert {obj.urn, each.named(READ_GRANT).urn} <= set(host.dependencies), host.name


def test_which_bundle_a_host_runs_is_its_tag_and_an_output(each: Evaluation) -> None:
    outputs = each.outputs["host_bundles"]
    for host in hosts(each):
        named = named_bundle(host)
        if host.type == LAUNCH_TEMPLATE:
            specs = {s["resourceType"]: s["tags"] for s in host.inputs["tagSpecifications"]}
            tags, role = specs["instance"], specs["instance"]["orthweb:role"]
        else:
            tags, role = host.inputs["tags"], host.inputs["tags"]["orthweb:role"]
        assert tags[BUNDLE_TAG] == named["sha256"]
        assert outputs[role] == named["uri"]
    assert set(outputs) == {"primary", "secondary"} or set(outputs) == {"member"}


def test_the_bundle_is_every_host_file_and_user_data_only_the_bootstrap(each: Evaluation) -> None:
    for role, files in host_files(each).items():
        assert {"envoy.yaml", "orthanc.json", "docker-compose.yml", "fetch-secrets.sh", "activate.sh"} <= set(files)
        written = {f["path"] for f in yaml.safe_load(files["cloud-init.yaml"].content)["write_files"]}
        assert written == {"/etc/orthweb/deployment.json", "/opt/orthweb/bootstrap.sh"}, role


# --- hosts are replaced when, and only when, their application changes -----------------------


@pytest.mark.parametrize("topology", ["failover", "scale-out"])
def test_a_changed_application_is_a_new_object_and_new_user_data(empty_home: Path, topology: str) -> None:
    before = evaluate("dev", {"topology": topology}, home=empty_home)
    again = evaluate("dev", {"topology": topology}, home=empty_home)
    changed = evaluate("dev", {"topology": topology, "deploymentOptions": {"orthancReplicas": 2}}, home=empty_home)
    keys = [sorted(o.inputs["key"] for o in e.of_type(BUNDLE_OBJECT)) for e in (before, again, changed)]
    assert keys[0] == keys[1], "the same application must not replace a host"
    assert not set(keys[0]) & set(keys[2])
    for old, new in zip(hosts(before), hosts(changed), strict=True):
        assert raw_user_data(old) == raw_user_data(again.named(old.name))
        assert raw_user_data(old) != raw_user_data(new), old.name
    if topology == "failover":
        assert all(h.inputs["userDataReplaceOnChange"] is True for h in hosts(changed))
    else:
        # A new launch template version, which the group rolls out with an instance refresh.
        (template,) = changed.of_type(LAUNCH_TEMPLATE)
        assert template.inputs["updateDefaultVersion"] is True
        assert changed.one("aws:autoscaling/group:Group").inputs["instanceRefresh"]["strategy"] == "Rolling"


@pytest.mark.parametrize("topology", ["failover", "scale-out"])
def test_user_data_of_the_largest_configuration_is_under_4_kib_gzipped(empty_home: Path, topology: str) -> None:
    stack = evaluate("prod", largest(topology), home=empty_home)
    assert stack.config.sso is not None and len(stack.config.dicom_modalities) == MAX_MODALITIES
    for host in hosts(stack):
        raw = raw_user_data(host)
        assert len(raw) < USER_DATA_BUDGET_BYTES, f"{host.name}: {len(raw)} bytes gzipped"
        assert gzip.decompress(raw).decode() == user_data_text(host)
    # The bundle carries what user data no longer does, sign-in's Envoy configuration included.
    for files in host_files(stack).values():
        assert "envoy.filters.http.oauth2" in files["envoy.yaml"].content
        assert "M19_XXXXXXXXXXXX" in files["orthanc.json"].content


# --- the bucket and who may read it -----------------------------------------------------------


def test_the_bundle_bucket_is_private_encrypted_logged_and_tls_only(each: Evaluation) -> None:
    bucket = each.named(BUCKET)

    def setting(token: str) -> dict[str, Any]:
        (found,) = [r for r in each.of_type(token) if r.inputs["bucket"] == bucket.id]
        return plain(found.inputs)

    block = setting("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    (rule,) = setting("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn(each)}
    assert rule["bucketKeyEnabled"] is True
    assert setting("aws:s3/bucketVersioning:BucketVersioning")["versioningConfiguration"]["status"] == "Enabled"
    assert setting("aws:s3/bucketOwnershipControls:BucketOwnershipControls")["rule"]["objectOwnership"] == (
        "BucketOwnerEnforced"
    )
    assert setting("aws:s3/bucketLogging:BucketLogging")["targetBucket"] == each.named("orthweb-storage-logs").id
    policy = json.loads(setting("aws:s3/bucketPolicy:BucketPolicy")["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    host_role = each.named("orthweb-host-identity-role").state["arn"]
    readers = statements["DenyBundleReadsToOthers"]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    writers = statements["DenyBundleWritesToOthers"]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert host_role in readers and host_role not in writers, "a host may read its bundle, never change it"
    assert set(writers) == set(readers) - {host_role} and writers
    assert {"s3:PutObject", "s3:DeleteObject"} <= set(statements["DenyBundleWritesToOthers"]["Action"])


def test_the_hosts_may_read_exactly_the_bundles_and_decrypt_only_through_s3(each: Evaluation) -> None:
    bucket_arn = each.named(BUCKET).state["arn"]
    grant = json.loads(each.named(READ_GRANT).inputs["policy"])
    assert grant["Statement"] == [
        {"Sid": "ReadHostBundles", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/bundles/*"},
        {
            "Sid": "DecryptHostBundles",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key_arn(each),
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": "s3.us-east-1.amazonaws.com",
                    # An S3 Bucket Key makes the bucket's ARN the encryption context.
                    "kms:EncryptionContext:aws:s3:arn": bucket_arn,
                }
            },
        },
    ]
    # Nothing else the hosts hold names the bucket: no listing, no writes.
    main = each.named("orthweb-host-identity-permissions").inputs["policy"]
    assert bucket_arn not in main
