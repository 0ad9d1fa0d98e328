"""What `pulumi destroy` does per environment: dev removes everything; prod completes and keeps the data.

With force_destroy off, the provider still calls DeleteBucket on a production bucket and fails on
BucketNotEmpty, leaving a half-destroyed stack. Production data (buckets, database) and what it
needs are retained on delete instead: `destroy` completes, AWS keeps them. AWS refuses to delete a
key, subnet group, parameter group, security group, subnet or VPC while a kept resource uses it, so
each of those that a kept resource depends on is kept too (else `destroy` fails there).
"""

from __future__ import annotations

from orthweb.evaluate import Evaluation, RecordedResource

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


def test_prod_keeps_every_bucket_and_each_of_its_settings(prod: Evaluation) -> None:
    children = storage_children(prod)
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


def test_only_data_and_what_holds_it_is_kept(prod: Evaluation) -> None:
    storage = {r.urn for r in storage_children(prod)}
    others = sorted(r.type for r in kept(prod) if r.urn not in storage)
    assert set(others) <= HELD_WHILE_IN_USE | {DB}
