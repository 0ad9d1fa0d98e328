"""The stack's security properties, asserted on the real resource graph of the dev and prod stacks."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from orthweb.evaluate import Evaluation, plain, secrets_in
from orthweb.evaluate.host_files import user_data_text

HOST = "aws:ec2/instance:Instance"
RDS = "aws:rds/instance:Instance"
SG = "aws:ec2/securityGroup:SecurityGroup"


def key_arn(stack: Evaluation) -> str:
    return stack.one("aws:kms/key:Key").state["arn"]


# --- keys and secrets ---------------------------------------------------------------------------


def test_customer_managed_key_rotates(stack: Evaluation) -> None:
    key = stack.one("aws:kms/key:Key").inputs
    assert key["enableKeyRotation"] is True


def test_secrets_are_encrypted_with_our_key_and_their_values_marked_secret(stack: Evaluation) -> None:
    for secret in stack.of_type("aws:secretsmanager/secret:Secret"):
        assert secret.inputs["kmsKeyId"] == key_arn(stack), secret.name
    versions = stack.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert len(versions) == 2
    for version in versions:
        assert secrets_in(version.inputs["secretString"]), f"{version.name} is stored unmarked"


def test_generated_passwords_are_long_and_only_ever_travel_as_secrets(stack: Evaluation) -> None:
    passwords = stack.of_type("random:index/randomPassword:RandomPassword")
    assert len(passwords) == 2 and all(p.inputs["length"] >= 32 for p in passwords)
    generated = [p.state["result"] for p in passwords]
    for resource in stack.resources:
        shown = json.dumps(_without_secrets(resource.inputs))
        assert not any(value in shown for value in generated), resource.name


def _without_secrets(value: Any) -> Any:
    from orthweb.evaluate import redact

    return redact(value)


def test_site_certificate_follows_the_macos_trust_rules(dev: Evaluation) -> None:
    certificate = dev.one("tls:index/selfSignedCert:SelfSignedCert").inputs
    assert certificate["validityPeriodHours"] <= 825 * 24
    assert "server_auth" in certificate["allowedUses"]
    assert dev.outputs["site_address"] in certificate["dnsNames"]
    assert certificate["ipAddresses"] == [dev.outputs["site_ip"]]
    key = dev.one("tls:index/privateKey:PrivateKey").inputs
    assert key["algorithm"] == "RSA" and key["rsaBits"] >= 2048
    assert secrets_in(certificate["privateKeyPem"]), "the private key must stay a secret"


def test_a_user_supplied_certificate_replaces_the_generated_one(empty_home: Any) -> None:
    from orthweb.evaluate import evaluate
    from orthweb.evaluate.stack_file import stand_in_certificate

    pem, key = stand_in_certificate("pacs.example.org")
    evaluation = evaluate(
        "dev",
        {"siteDomain": "pacs.example.org", "siteCertificate": pem, "siteCertificateKey": key},
        secret_overrides=["siteCertificateKey"],
        home=empty_home,
    )
    assert not evaluation.of_type("tls:index/selfSignedCert:SelfSignedCert")
    tls_version = evaluation.named("orthweb-site-certificate-value")
    stored = json.loads(plain(tls_version.inputs["secretString"]))
    assert stored == {"certificate": pem, "private_key": key}
    assert secrets_in(tls_version.inputs["secretString"])


# --- database -----------------------------------------------------------------------------------


def test_database_is_private_encrypted_and_never_sees_a_password(stack: Evaluation) -> None:
    db = stack.one(RDS).inputs
    assert db["publiclyAccessible"] is False
    assert db["storageEncrypted"] is True and db["kmsKeyId"] == key_arn(stack)
    assert db["manageMasterUserPassword"] is True and db["masterUserSecretKmsKeyId"] == key_arn(stack)
    assert "password" not in db and "passwordWo" not in db
    assert db["engineVersion"] == str(stack.config.options.db_engine_version)
    assert db["backupRetentionPeriod"] >= 7
    assert db["iamDatabaseAuthenticationEnabled"] is True
    assert set(db["enabledCloudwatchLogsExports"]) >= {"postgresql"}
    subnet_group = stack.one("aws:rds/subnetGroup:SubnetGroup").inputs
    assert set(subnet_group["subnetIds"]) == {stack.named(f"orthweb-network-private-{s}").id for s in "ab"}


def test_parameter_group_forces_tls_and_logs_no_statements(stack: Evaluation) -> None:
    group = stack.one("aws:rds/parameterGroup:ParameterGroup").inputs
    params = {p["name"]: p["value"] for p in group["parameters"]}
    assert group["family"] == f"postgres{stack.config.options.db_engine_version}"
    assert params["rds.force_ssl"] == "1"
    assert params["log_statement"] == "none"
    assert params["log_min_duration_statement"] == "-1"
    assert (
        stack.one(RDS).inputs["parameterGroupName"] == stack.one("aws:rds/parameterGroup:ParameterGroup").state["name"]
    )


def test_production_and_dev_switch_protection(dev: Evaluation, prod: Evaluation) -> None:
    p, d = prod.one(RDS).inputs, dev.one(RDS).inputs
    assert p["multiAz"] and p["deletionProtection"] and not p["skipFinalSnapshot"] and p["finalSnapshotIdentifier"]
    assert not d["multiAz"] and not d["deletionProtection"] and d["skipFinalSnapshot"]
    assert all(b.inputs["forceDestroy"] for b in dev.of_type("aws:s3/bucket:Bucket"))
    # The host bundles are made again by every `pulumi up`: that bucket goes with any stack.
    kept = {b.name: b.inputs["forceDestroy"] for b in prod.of_type("aws:s3/bucket:Bucket")}
    assert kept == {
        "orthweb-storage-dicom": False,
        "orthweb-storage-logs": False,
        "orthweb-storage-host-bundles": True,
        "orthweb-audit-audit": False,
    }


INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


def rules_of(stack: Evaluation, group_name: str, token: str = INGRESS) -> list[dict]:
    group = stack.named(group_name)
    assert not group.inputs.get("ingress") and not group.inputs.get("egress"), "rules are separate resources"
    return [r.inputs for r in stack.of_type(token) if r.inputs["securityGroupId"] == group.id]


def test_database_accepts_postgres_from_the_hosts_only(stack: Evaluation) -> None:
    (rule,) = rules_of(stack, "orthweb-database-sg")
    assert (rule["fromPort"], rule["toPort"], rule["ipProtocol"]) == (5432, 5432, "tcp")
    assert rule["referencedSecurityGroupId"] == stack.named("orthweb-hosts-sg").id
    assert "cidrIpv4" not in rule
    assert not rules_of(stack, "orthweb-database-sg", EGRESS)


# --- storage ------------------------------------------------------------------------------------


def _bucket_features(stack: Evaluation, bucket_name: str) -> dict[str, dict]:
    bucket_id = stack.named(bucket_name).id
    return {r.type.split(":")[-1]: r.inputs for r in stack.resources if r.inputs.get("bucket") == bucket_id}


@pytest.mark.parametrize("bucket", ["orthweb-storage-dicom", "orthweb-storage-logs"])
def test_buckets_are_private_versioned_encrypted_and_tls_only(stack: Evaluation, bucket: str) -> None:
    features = _bucket_features(stack, bucket)
    block = features["BucketPublicAccessBlock"]
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert features["BucketOwnershipControls"]["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    assert features["BucketVersioning"]["versioningConfiguration"]["status"] == "Enabled"
    encryption = features["BucketServerSideEncryptionConfiguration"]["rules"][0]["applyServerSideEncryptionByDefault"]
    if bucket.endswith("dicom"):
        assert encryption == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn(stack)}
    else:  # S3 access logs cannot be delivered to SSE-KMS buckets
        assert encryption["sseAlgorithm"] == "AES256"
    policy = json.loads(features["BucketPolicy"]["policy"])
    deny_plain = [s for s in policy["Statement"] if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")]
    assert deny_plain and deny_plain[0]["Effect"] == "Deny" and deny_plain[0]["Principal"] == "*"
    assert "BucketLifecycleConfiguration" in features


def test_dicom_objects_only_for_the_hosts_role_and_the_deployer(stack: Evaluation) -> None:
    policy = json.loads(_bucket_features(stack, "orthweb-storage-dicom")["BucketPolicy"]["policy"])
    (others,) = [s for s in policy["Statement"] if s["Sid"] == "DenyObjectAccessToOthers"]
    allowed = others["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    role_arn = stack.named("orthweb-host-identity-role").state["arn"]
    assert role_arn in allowed and len(allowed) == 2
    assert any(":role/Deployer" in arn for arn in allowed), "the assumed-role deployer is named by its role"


def test_dicom_access_logs_go_to_the_log_bucket(stack: Evaluation) -> None:
    logging = stack.named("orthweb-storage-dicom-access-logs").inputs
    assert logging["bucket"] == stack.named("orthweb-storage-dicom").id
    assert logging["targetBucket"] == stack.named("orthweb-storage-logs").id


def test_no_deprecated_v2_or_acl_resources(stack: Evaluation) -> None:
    types = {r.type for r in stack.resources}
    assert not [t for t in types if t.startswith("aws:s3/") and "V2" in t]
    assert "aws:s3/bucketAcl:BucketAcl" not in types
    for bucket in stack.of_type("aws:s3/bucket:Bucket"):
        inline = {"acl", "versioning", "serverSideEncryptionConfiguration", "logging", "lifecycleRules", "policy"}
        assert not inline & set(bucket.inputs), bucket.name


# --- compute ------------------------------------------------------------------------------------


def test_hosts_require_imdsv2_and_encrypt_their_disks(stack: Evaluation) -> None:
    hosts = stack.of_type(HOST)
    assert len(hosts) == 2
    for host in hosts:
        metadata = host.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required"
        assert metadata["httpPutResponseHopLimit"] == 2
        disk = host.inputs["rootBlockDevice"]
        assert disk["encrypted"] is True and disk["kmsKeyId"] == key_arn(stack)
        assert host.inputs["monitoring"] is True
        assert host.inputs["iamInstanceProfile"] == stack.one("aws:iam/instanceProfile:InstanceProfile").state["name"]


def test_primary_and_secondary_are_in_different_zones(stack: Evaluation) -> None:
    subnets = {stack.named(f"orthweb-hosts-{role}").inputs["subnetId"] for role in ("primary", "secondary")}
    assert subnets == {stack.named(f"orthweb-network-public-{s}").id for s in "ab"}


def test_elastic_ip_starts_on_the_primary(stack: Evaluation) -> None:
    eip = stack.one("aws:ec2/eip:Eip")
    assert eip.inputs["instance"] == stack.named("orthweb-hosts-primary").id
    assert eip.inputs["tags"]["orthweb:role"] == "site"


@pytest.mark.parametrize(
    ("holder", "expected"),
    [
        ("orthweb-hosts-secondary", "orthweb-hosts-secondary"),  # after a failover: stays there
        ("orthweb-hosts-primary", "orthweb-hosts-primary"),
        ("orthweb-hosts-replaced-long-ago", "orthweb-hosts-primary"),  # holder gone: back to primary
    ],
)
def test_a_later_up_respects_the_current_holder_of_the_elastic_ip(empty_home: Any, holder: str, expected: str) -> None:
    from orthweb.evaluate import evaluate

    evaluation = evaluate("dev", home=empty_home, site_holder=holder)
    assert evaluation.one("aws:ec2/eip:Eip").inputs["instance"] == evaluation.named(expected).id


def test_hosts_are_replaced_when_their_application_changes(stack: Evaluation) -> None:
    for host in stack.of_type(HOST):
        assert host.inputs["userDataReplaceOnChange"] is True


def test_no_port_22_anywhere_and_hosts_open_only_443_and_11112(stack: Evaluation) -> None:
    assert all(not group.inputs.get("ingress") for group in stack.of_type(SG))
    for rule in stack.of_type(INGRESS):
        assert not rule.inputs["fromPort"] <= 22 <= rule.inputs["toPort"], rule.name
        assert rule.inputs["ipProtocol"] == "tcp", rule.name
    host_rules = rules_of(stack, "orthweb-hosts-sg")
    assert sorted({(r["fromPort"], r["toPort"]) for r in host_rules}) == [(443, 443), (11112, 11112)]
    web = [r["cidrIpv4"] for r in host_rules if r["fromPort"] == 443]
    assert sorted(web) == sorted(stack.config.web_allowed_cidrs)
    egress = sorted((r["fromPort"], r["cidrIpv4"]) for r in rules_of(stack, "orthweb-hosts-sg", EGRESS))
    assert egress == [(443, "0.0.0.0/0"), (5432, stack.config.vpc_cidr)]


def test_allowed_networks_come_from_config(empty_home: Any) -> None:
    from orthweb.evaluate import evaluate

    networks = ["203.0.113.0/24", "198.51.100.0/25"]
    evaluation = evaluate("dev", {"dicomAllowedCidrs": networks}, home=empty_home)
    dicom = [r["cidrIpv4"] for r in rules_of(evaluation, "orthweb-hosts-sg") if r["fromPort"] == 11112]
    assert sorted(dicom) == sorted(networks)  # one rule resource per network, registered in any order


def test_ec2_is_created_in_parallel_with_rds(stack: Evaluation) -> None:
    rds = stack.one(RDS).urn
    for host in stack.of_type(HOST):
        assert rds not in stack.ancestors(host.urn), f"{host.name} waits for the database"
    assert stack.one(RDS).urn not in stack.ancestors(stack.one("aws:ec2/eip:Eip").urn)


# --- secrets never leak -------------------------------------------------------------------------


def all_secret_texts(stack: Evaluation) -> list[str]:
    found: list[str] = []
    for resource in stack.resources:
        found.extend(str(v) for v in secrets_in(resource.inputs))
    found.extend(r.state["result"] for r in stack.of_type("random:index/randomPassword:RandomPassword"))
    found.extend(r.state["privateKeyPem"] for r in stack.of_type("tls:index/privateKey:PrivateKey"))
    return [text for text in found if text]


def test_no_secret_text_in_any_user_data(stack: Evaluation) -> None:
    secret_texts = all_secret_texts(stack)
    assert secret_texts, "the stack has secrets; finding none means the scan is broken"
    fragments = set()
    for text in secret_texts:
        fragments.add(text)
        with contextlib.suppress(json.JSONDecodeError, TypeError):
            fragments.update(str(v) for v in _leaves(json.loads(text)) if len(str(v)) >= 12)
    for host in stack.of_type(HOST):
        assert "userData" not in host.inputs, "plain user data would exceed EC2's 16 KiB"
        user_data = user_data_text(host)
        assert user_data.startswith("#cloud-config")
        assert not [f for f in fragments if f in user_data], host.name
        assert "PRIVATE KEY" not in user_data


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_outputs_are_the_seed_four_and_carry_no_secret(stack: Evaluation) -> None:
    assert {"site_address", "host_info", "s3_bucket", "db_endpoint"} <= set(stack.outputs)
    assert not secrets_in(stack.outputs)
    assert set(stack.outputs["host_info"]) == {"primary", "secondary"}
    assert stack.outputs["db_endpoint"].endswith(":5432")
    assert stack.outputs["s3_bucket"].startswith(stack.named("orthweb-storage-dicom").state["bucket"])
    shown = json.dumps(stack.outputs)
    assert not [text for text in all_secret_texts(stack) if text in shown]


# --- graph hygiene ------------------------------------------------------------------------------


def test_urns_are_unique(stack: Evaluation) -> None:
    urns = [r.urn for r in stack.resources]
    assert len(urns) == len(set(urns))


def test_every_child_hangs_under_an_orthweb_component(stack: Evaluation) -> None:
    components = {r.urn for r in stack.resources if not r.custom}
    assert all(r.type.startswith("orthweb:index:") for r in stack.resources if not r.custom)
    stray = [r.name for r in stack.resources if r.custom and r.parent not in components]
    # What two components share, drawn before either exists: the identifier both hosts and database
    # derive from, and the seal the hosts print on Orthanc's audit lines and the audit copy requires.
    assert sorted(stray) == ["orthweb-audit-seal", "orthweb-db-suffix"]


def test_taggable_aws_resources_carry_the_stack_tags(stack: Evaluation) -> None:
    for token in (HOST, RDS, SG, "aws:ec2/vpc:Vpc", "aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:ec2/eip:Eip"):
        for resource in stack.of_type(token):
            tags = resource.inputs["tags"]
            assert tags["orthweb:project"] == "orthweb" and tags["orthweb:stack"] == stack.stack, resource.name
    roles = {r.inputs["tags"]["orthweb:role"] for r in stack.of_type(HOST)}
    assert roles == {"primary", "secondary"}


# --- IAM ----------------------------------------------------------------------------------------


def policy_documents(stack: Evaluation) -> dict[str, dict]:
    documents = {}
    for resource in stack.resources:
        for field in ("policy", "assumeRolePolicy"):
            text = resource.inputs.get(field)
            if isinstance(text, str):
                documents[f"{resource.name}.{field}"] = json.loads(text)
    return documents


def test_every_policy_document_passes_parliament(stack: Evaluation) -> None:
    documents = policy_documents(stack)
    trust = documents.pop("orthweb-host-identity-role.assumeRolePolicy")
    monitoring_trust = documents.pop("orthweb-database-monitoring-role.assumeRolePolicy")
    backup_trust = documents.pop("orthweb-backup-role.assumeRolePolicy")
    # The audit copy function's, statement by statement in test_audit_log_group.py.
    copy_trust = documents.pop("orthweb-audit-lines-role.assumeRolePolicy")
    assert len(documents) >= 4
    key = stack.one("aws:kms/key:Key")
    for name, document in documents.items():
        if name == f"{key.name}.policy":
            # Statement 1 is AWS's default key policy (the account administers the key through
            # IAM), whose kms:* parliament cannot map to one key; check it exactly instead.
            admin, *rest = document["Statement"]
            assert admin == {
                "Sid": "AccountAdministersThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
            document = {**document, "Statement": rest}
        text = json.dumps(document)
        if name == f"{key.name}.policy":
            # In a key policy "Resource": "*" means "this key"; lint it as the key's own ARN.
            text = text.replace('"Resource": "*"', json.dumps({"Resource": key.state["arn"]})[1:-1])
        findings = [(f.issue, f.detail) for f in analyze_policy_string(text).findings]
        assert findings == [], f"{name}: {findings}"
    # A trust policy has no Resource, so parliament cannot read it; check it directly.
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert [s["Principal"] for s in monitoring_trust["Statement"]] == [{"Service": "monitoring.rds.amazonaws.com"}]
    assert [s["Principal"] for s in backup_trust["Statement"]] == [{"Service": "backup.amazonaws.com"}]
    assert all(s["Action"] == "sts:AssumeRole" for s in monitoring_trust["Statement"])
    assert [s["Principal"] for s in copy_trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]


def test_host_role_reaches_exactly_its_secrets_bucket_key_and_database(stack: Evaluation) -> None:
    permissions = json.loads(stack.named("orthweb-host-identity-permissions").inputs["policy"])
    statements = {s["Sid"]: s for s in permissions["Statement"]}
    secret_arns = {r.state["arn"] for r in stack.of_type("aws:secretsmanager/secret:Secret")}
    rds_secret = stack.one(RDS).state["masterUserSecrets"][0]["secretArn"]
    assert set(statements["ReadOwnSecrets"]["Resource"]) == secret_arns | {rds_secret}
    dicom_arn = stack.named("orthweb-storage-dicom").state["arn"]
    assert statements["ReadWriteDicomObjects"]["Resource"] == f"{dicom_arn}/*"
    assert statements["ListDicomBucket"]["Resource"] == dicom_arn
    assert statements["FindDatabaseEndpoint"]["Resource"] == stack.one(RDS).state["arn"]
    assert statements["UseKeyThroughServices"]["Resource"] == key_arn(stack)
    group_arns = {g.state["arn"] for g in stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    audit_group = f":log-group:/orthweb/{stack.stack}/audit"
    own_groups = {arn for arn in group_arns if f":log-group:/orthweb/{stack.stack}/" in arn and audit_group not in arn}
    assert len(own_groups) == 3
    assert statements["WriteOwnLogStreams"]["Resource"] == sorted(f"{arn}:log-stream:*" for arn in own_groups)
    # Only the copy function writes into the audit group: a host cannot add or forge an audit line there.
    assert not [r for s in statements.values() for r in _as_list(s["Resource"]) if audit_group in r]
    assert statements["WriteOwnLogStreams"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    metrics = statements["PublishOwnMetrics"]
    assert metrics["Action"] == "cloudwatch:PutMetricData"
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": f"orthweb/{stack.stack}"}}
    every_resource = [s["Resource"] for s in permissions["Statement"] if s is not metrics]
    wildcards_allowed = [f"{dicom_arn}/*", *(f"{arn}:log-stream:*" for arn in own_groups)]
    shown = json.dumps(every_resource)
    for allowed in wildcards_allowed:
        shown = shown.replace(allowed, "")
    assert "*" not in shown
    host_role = stack.named("orthweb-host-identity-role")
    attachments = [
        r.inputs["policyArn"]
        for r in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.inputs["role"] == host_role.state["name"]
    ]
    assert attachments == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
