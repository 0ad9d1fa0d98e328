"""Which resources a `pulumi up` would replace, going from one evaluation of the program to another.

An input the provider marks "forces new" (ForceNew in the Terraform AWS provider's schemas, which
pulumi-aws bridges; every input of a random resource) replaces its resource when its value
changes. A replaced resource gets new identifiers, so every input that refers to it changes too:
a dependent whose force-new input refers to a replaced resource is replaced as well. The mock
engine's ids do not change on replacement, hence the second rule follows the recorded property
dependencies instead of comparing ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orthweb.evaluate.model import Evaluation, RecordedResource, plain

_RANDOM_INPUTS = frozenset(
    {
        "length",
        "keepers",
        "lower",
        "minLower",
        "minNumeric",
        "minSpecial",
        "minUpper",
        "number",
        "numeric",
        "overrideSpecial",
        "special",
        "upper",
    }
)

# Force-new inputs per type, for the types whose replacement reaches the database or the hosts.
# Dotted names reach into a nested block (rootBlockDevice.kmsKeyId).
FORCE_NEW: Mapping[str, frozenset[str]] = {
    "aws:rds/instance:Instance": frozenset(
        {
            "availabilityZone",
            "characterSetName",
            "customIamInstanceProfile",
            "dbName",
            "engine",
            "identifier",
            "identifierPrefix",
            "kmsKeyId",
            "ncharCharacterSetName",
            "restoreToPointInTime",
            "s3Import",
            "snapshotIdentifier",
            "storageEncrypted",
            "timezone",
            "username",
        }
    ),
    "aws:rds/parameterGroup:ParameterGroup": frozenset({"family", "name", "namePrefix", "description"}),
    "aws:rds/subnetGroup:SubnetGroup": frozenset({"name", "namePrefix"}),
    "aws:kms/key:Key": frozenset({"customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId"}),
    "aws:ec2/securityGroup:SecurityGroup": frozenset({"name", "namePrefix", "description", "vpcId"}),
    "aws:iam/role:Role": frozenset({"name", "namePrefix", "path"}),
    "aws:ec2/vpc:Vpc": frozenset({"cidrBlock"}),
    "aws:ec2/subnet:Subnet": frozenset({"vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId"}),
    "aws:ec2/keyPair:KeyPair": frozenset({"keyName", "keyNamePrefix", "publicKey"}),
    "aws:ec2/instance:Instance": frozenset(
        {
            "ami",
            "availabilityZone",
            "subnetId",
            "keyName",
            "associatePublicIpAddress",
            "privateIp",
            "tenancy",
            "placementGroup",
            "ebsBlockDevices",
            "rootBlockDevice.encrypted",
            "rootBlockDevice.kmsKeyId",
        }
    ),
    "aws:s3/bucket:Bucket": frozenset({"bucket", "bucketPrefix"}),
    "aws:cloudwatch/logGroup:LogGroup": frozenset({"name", "namePrefix"}),
    "random:index/randomString:RandomString": _RANDOM_INPUTS,
    "random:index/randomPassword:RandomPassword": _RANDOM_INPUTS,
}
# With userDataReplaceOnChange, new user data is a new instance (cloud-init runs once per instance).
_USER_DATA = ("userData", "userDataBase64")


def force_new_inputs(resource: RecordedResource) -> frozenset[str]:
    names = FORCE_NEW.get(resource.type, frozenset())
    if resource.type == "aws:ec2/instance:Instance" and resource.inputs.get("userDataReplaceOnChange"):
        names = names | frozenset(_USER_DATA)
    return names


def replaced(before: Evaluation, after: Evaluation) -> list[str]:
    """The names of the resources in both evaluations that going to `after` replaces, in order."""
    found = replaced_urns(before, after)
    return [r.name for r in after.resources if r.urn in found]


def replaced_urns(before: Evaluation, after: Evaluation) -> set[str]:
    """The URNs (of `after`) of the resources that going from `before` to `after` replaces; the two
    may be different stacks: a resource is the same one when its URN is, but for the stack's name."""
    previous = {same_resource(r.urn): r for r in before.resources}
    kept = [r for r in after.resources if same_resource(r.urn) in previous]
    found: set[str] = set()
    # A replacement propagates to dependents; repeat until nothing more is found.
    while True:
        more = {r.urn for r in kept if r.urn not in found and _replaces(previous[same_resource(r.urn)], r, found)}
        if not more:
            return found
        found |= more


def same_resource(urn: str) -> str:
    """A URN without its stack's name (`urn:pulumi:<stack>::`), to match a resource across stacks."""
    return re.sub(r"^urn:pulumi:[^:]*::", "", urn)


def forced_by(old: RecordedResource, new: RecordedResource) -> list[str]:
    """The force-new inputs whose change replaces `new`."""
    return [name for name in sorted(force_new_inputs(new)) if _at(old.inputs, name) != _at(new.inputs, name)]


def _replaces(old: RecordedResource, new: RecordedResource, replaced_urns: set[str]) -> bool:
    for name in force_new_inputs(new):
        if _at(old.inputs, name) != _at(new.inputs, name):
            return True
        if replaced_urns.intersection(new.property_dependencies.get(name.split(".")[0], ())):
            return True
    return False


def _at(inputs: Mapping[str, Any], dotted: str) -> Any:
    value: Any = plain(dict(inputs))
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
