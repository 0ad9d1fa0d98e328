"""What `pulumi destroy` does per environment: dev removes everything; prod completes and keeps the data.

With force_destroy off, the provider still calls DeleteBucket on a production bucket and fails on
BucketNotEmpty, leaving a half-destroyed stack. Production data (buckets, database) and what it
needs are retained on delete instead: `destroy` completes, AWS keeps them. AWS refuses to delete a
key, subnet group, parameter group, security group, subnet or VPC while a kept resource uses it, so
each of those that a kept resource depends on is kept too (else `destroy` fails there).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from orthweb.evaluate import PROJECT_ROOT, Evaluation, RecordedResource, evaluate

BUCKET = "aws:s3/bucket:Bucket"
DB = "aws:rds/instance:Instance"
# Types AWS refuses to delete while something that is kept still uses them.
HELD_WHILE_IN_USE = {
    "aws:kms/key:Key",
    "aws:rds/subnetGroup:SubnetGroup",
    "aws:rds/parameterGroup:ParameterGroup",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/vpc:Vpc",
}


def kept(stack: Evaluation) -> list[RecordedResource]:
    return [r for r in stack.resources if r.retain_on_delete]


def storage_children(stack: Evaluation) -> list[RecordedResource]:
    storage = stack.one("orthweb:index:Storage")
    return [r for r in stack.resources if r.parent == storage.urn]


def test_dev_is_destroyed_completely_with_its_data(dev: Evaluation) -> None:
    assert kept(dev) == []
    assert all(bucket.inputs["forceDestroy"] is True for bucket in dev.of_type(BUCKET))
    database = dev.one(DB).inputs
    assert database["skipFinalSnapshot"] is True and database["deletionProtection"] is False


def test_prod_keeps_every_data_bucket_and_each_of_its_settings(prod: Evaluation) -> None:
    # The host bundle bucket holds what `pulumi up` makes again from the templates: it goes.
    bundles = prod.named("orthweb-storage-host-bundles")
    disposable = [r for r in storage_children(prod) if r is bundles or r.inputs.get("bucket") == bundles.id]
    assert len(disposable) == 9 and not any(r.retain_on_delete for r in disposable)
    assert bundles.inputs["forceDestroy"] is True
    children = [r for r in storage_children(prod) if r not in disposable]
    assert {r.type for r in children} >= {
        BUCKET,
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLogging:BucketLogging",
    }
    assert [r.name for r in children if not r.retain_on_delete] == []


def test_prod_keeps_the_database_its_key_and_its_network(prod: Evaluation) -> None:
    names = {r.name for r in kept(prod)}
    assert {
        "orthweb-database-postgres",
        "orthweb-database-parameters",
        "orthweb-database-subnets",
        "orthweb-database-sg",
        "orthweb-encryption-key",
        "orthweb-network-vpc",
        "orthweb-network-private-a",
        "orthweb-network-private-b",
    } <= names
    # The hosts and everything that only serves them go.
    assert not {"orthweb-hosts-primary", "orthweb-hosts-secondary", "orthweb-network-public-a"} & names


def test_nothing_a_kept_resource_uses_is_deleted_under_it(prod: Evaluation) -> None:
    by_urn = {r.urn: r for r in prod.resources}
    missing = sorted(
        f"{resource.name} -> {by_urn[urn].name}"
        for resource in kept(prod)
        for urn in prod.ancestors(resource.urn)
        if urn in by_urn and by_urn[urn].type in HELD_WHILE_IN_USE and not by_urn[urn].retain_on_delete
    )
    assert missing == []


# The backups are data too: the vault with its recovery points, and its lock.
BACKUPS = {"aws:backup/vault:Vault", "aws:backup/vaultLockConfiguration:VaultLockConfiguration"}


def audit_children(stack: Evaluation) -> list[RecordedResource]:
    audit = stack.one("orthweb:index:AuditTrail")
    return [r for r in stack.resources if r.parent == audit.urn]


def audit_group_children(stack: Evaluation) -> list[RecordedResource]:
    group = stack.one("orthweb:index:AuditLogGroup")
    return [r for r in stack.resources if r.parent == group.urn]


def test_prod_keeps_the_audit_log_group_and_lets_the_copy_go(prod: Evaluation, dev: Evaluation) -> None:
    """The group is the record `orthweb audit` asks; the function, its queue and log only copy into it."""
    kept_types = [r.inputs.get("name") for r in audit_group_children(prod) if r.retain_on_delete]
    assert kept_types == ["/orthweb/prod/audit"]
    assert not [r for r in audit_group_children(dev) if r.retain_on_delete]


def test_prod_keeps_the_audit_bucket_and_its_lock_and_lets_the_trail_go(prod: Evaluation) -> None:
    """The log files are the record; the trail only writes more of them and `pulumi up` makes it again."""
    children = audit_children(prod)
    gone = [r.type for r in children if not r.retain_on_delete]
    assert gone == ["aws:cloudtrail/trail:Trail"]
    assert {r.type for r in children if r.retain_on_delete} >= {
        BUCKET,
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    }


def test_only_data_and_what_holds_it_is_kept(prod: Evaluation) -> None:
    storage = {r.urn for r in storage_children(prod) + audit_children(prod) + audit_group_children(prod)}
    others = sorted(r.type for r in kept(prod) if r.urn not in storage)
    assert set(others) <= HELD_WHILE_IN_USE | {DB} | BACKUPS
    assert set(others) >= BACKUPS


# --- deletion protection ------------------------------------------------------------------------

# Inputs with which AWS refuses to delete a resource, and the value that turns the refusal on. The
# provider deletes without turning them off first, so `pulumi destroy` stops at such a resource:
# - RDS DeleteDBInstance: "You can't delete a DB instance when deletion protection is enabled"
#   (Amazon RDS User Guide, Deleting a DB instance);
# - ELB DeleteLoadBalancer: "you can't delete the load balancer while deletion protection is enabled"
#   (Elastic Load Balancing, Network Load Balancers, Deletion protection);
# - Cognito DeleteUserPool: "Before you can delete a user pool that you have protected against
#   deletion, you must deactivate this feature" (Amazon Cognito API Reference, CreateUserPool,
#   DeletionProtection);
# - EC2 TerminateInstances refuses an instance with DisableApiTermination (Amazon EC2 User Guide,
#   Enable termination protection).
DELETION_PROTECTION: dict[str, tuple[str, Any]] = {
    DB: ("deletionProtection", True),
    "aws:lb/loadBalancer:LoadBalancer": ("enableDeletionProtection", True),
    "aws:cognito/userPool:UserPool": ("deletionProtection", "ACTIVE"),
    "aws:ec2/instance:Instance": ("disableApiTermination", True),
    # - CloudWatch Logs DeleteLogGroup: "Cannot delete log group with deletion protection enabled"
    #   (CloudWatch Logs User Guide, Protecting log groups from deletion).
    "aws:cloudwatch/logGroup:LogGroup": ("deletionProtectionEnabled", True),
}
PROTECTION_INPUT = re.compile(r"deletion_?protection|terminationprotection|disableapitermination", re.IGNORECASE)
SIGN_IN = {"authentication": "sso", "ssoAdminEmails": ["pacs-admin@hospital.example"]}
LIFECYCLE = (PROJECT_ROOT / "docs" / "lifecycle.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module", params=["failover", "scale-out"])
def prod_with_sign_in(request: pytest.FixtureRequest, empty_home: Path) -> Evaluation:
    return evaluate("prod", {**SIGN_IN, "topology": request.param}, home=empty_home)


def protected(resource: RecordedResource) -> bool:
    found = [name for name in resource.inputs if PROTECTION_INPUT.search(name)]
    if resource.type not in DELETION_PROTECTION:
        assert found == [], f"{resource.name}: {found} is not in DELETION_PROTECTION"
        return False
    name, on = DELETION_PROTECTION[resource.type]
    return resource.inputs.get(name) == on


def test_every_protected_prod_resource_is_kept_on_destroy(prod_with_sign_in: Evaluation) -> None:
    """A resource AWS refuses to delete must not be deleted by `pulumi destroy`: either it is
    retained on delete (and docs/lifecycle.md says how to delete it), or it is not protected."""
    protected_resources = [r for r in prod_with_sign_in.resources if r.custom and protected(r)]
    assert protected_resources, "production protects its data"
    assert [r.name for r in protected_resources if not r.retain_on_delete] == []


def test_the_load_balancer_is_not_protected_so_destroy_removes_it(prod_with_sign_in: Evaluation) -> None:
    """It holds no data, and `pulumi up` makes it again with the same Elastic IPs; kept, it would keep
    its addresses, subnets and listeners (and their bill) too."""
    for balancer in prod_with_sign_in.of_type("aws:lb/loadBalancer:LoadBalancer"):
        assert balancer.inputs["enableDeletionProtection"] is False
        assert not balancer.retain_on_delete


def test_the_user_pool_keeps_its_people_and_roles_and_drops_what_only_serves_the_site(
    prod_with_sign_in: Evaluation,
) -> None:
    kept_types = {r.type for r in kept(prod_with_sign_in)}
    assert {
        "aws:cognito/userPool:UserPool",
        "aws:cognito/userGroup:UserGroup",
        "aws:cognito/user:User",
        "aws:cognito/userInGroup:UserInGroup",
    } <= kept_types
    gone = {"aws:cognito/userPoolDomain:UserPoolDomain", "aws:cognito/userPoolClient:UserPoolClient"}
    assert not gone & kept_types


@pytest.mark.parametrize(
    ("token", "disable", "delete"),
    [
        (DB, "--no-deletion-protection", "delete-db-instance"),
        ("aws:cognito/userPool:UserPool", "--deletion-protection INACTIVE", "delete-user-pool"),
    ],
)
def test_lifecycle_says_how_to_delete_each_kept_protected_resource(token: str, disable: str, delete: str) -> None:
    section = LIFECYCLE.split("### Deleting kept production data later", 1)[1].split("\n## ", 1)[0]
    assert disable in section and delete in section, token
