"""The mock engine's answers: fabricated but well-formed values for what AWS would compute."""

from __future__ import annotations

import hashlib
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

MOCK_ACCOUNT = "123456789012"


def _fake_id(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


class OfflineMocks(pulumi_mocks.Mocks):
    """Fabricated but well-formed values for what AWS would compute."""

    def __init__(self, region: str, site_holder: str | None = None) -> None:
        self.region = region
        # Resource name of the host that holds the Elastic IP already (as after a failover),
        # or None for a first deployment.
        self.site_holder = site_holder

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        # No check failures: the engine wants an empty list, not None.
        return self._answer(args.token, args.args), []

    def _answer(self, token: str, arguments: dict) -> dict:
        region = self.region
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": MOCK_ACCOUNT,
                "arn": f"arn:aws:sts::{MOCK_ACCOUNT}:assumed-role/Deployer/session",
                "userId": "AROAEXAMPLE:session",
                "id": MOCK_ACCOUNT,
            }
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{suffix}" for suffix in "abc"]
            return {"names": names, "zoneIds": [f"use1-az{i}" for i in (1, 2, 4)], "id": region}
        if token == "aws:ssm/getParameter:getParameter":
            name = arguments.get("name", "")
            return {"name": name, "value": "ami-" + _fake_id(name), "type": "String", "id": name}
        if token == "aws:ec2/getEips:getEips":
            if self.site_holder is None:
                return {"allocationIds": [], "publicIps": [], "id": region}
            return {"allocationIds": ["eipalloc-existing"], "publicIps": ["203.0.113.10"], "id": region}
        if token == "aws:ec2/getElasticIp:getElasticIp":
            holder = "i-" + _fake_id(self.site_holder) if self.site_holder else ""
            return {"id": arguments.get("id", ""), "instanceId": holder, "publicIp": "203.0.113.10"}
        raise NotImplementedError(f"the offline engine has no answer for data source {token}")

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        inputs = dict(args.inputs)
        token, name, region = args.typ, args.name, self.region
        resource_id = name + "-" + _fake_id(token, name, length=8)
        state: dict[str, Any] = {**inputs}
        service = token.split(":")[1].split("/")[0] if ":" in token else "misc"
        state.setdefault("arn", f"arn:aws:{service}:{region}:{MOCK_ACCOUNT}:{name}")
        # Auto-named resources (parameter groups, subnet groups, ...) get their physical name.
        state.setdefault("name", resource_id)
        if token == "aws:s3/bucket:Bucket":
            bucket = (inputs.get("bucketPrefix") or name) + _fake_id(name, length=8)
            resource_id = bucket
            state.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
            )
        elif token == "aws:ec2/instance:Instance":
            resource_id = "i-" + _fake_id(name)
            state.update(privateIp="172.27.0.10", publicIp="198.51.100.20", instanceState="running")
        elif token == "aws:ec2/eip:Eip":
            resource_id = "eipalloc-" + _fake_id(name)
            state.update(
                allocationId=resource_id,
                publicIp="203.0.113.10",
                publicDns="ec2-203-0-113-10.compute-1.amazonaws.com"
                if region == "us-east-1"
                else f"ec2-203-0-113-10.{region}.compute.amazonaws.com",
            )
        elif token == "aws:rds/instance:Instance":
            identifier = inputs.get("identifier", name)
            address = f"{identifier}.cexample123.{region}.rds.amazonaws.com"
            state.update(
                address=address,
                endpoint=f"{address}:5432",
                port=5432,
                arn=f"arn:aws:rds:{region}:{MOCK_ACCOUNT}:db:{identifier}",
                masterUserSecrets=[
                    {
                        "secretArn": f"arn:aws:secretsmanager:{region}:{MOCK_ACCOUNT}:secret:"
                        f"rds!db-{_fake_id(identifier)}",
                        "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                        "secretStatus": "active",
                    }
                ],
            )
        elif token == "aws:secretsmanager/secret:Secret":
            secret_name = (inputs.get("namePrefix") or name) + _fake_id(name, length=6)
            resource_id = f"arn:aws:secretsmanager:{region}:{MOCK_ACCOUNT}:secret:{secret_name}"
            state.update(arn=resource_id, name=secret_name)
        elif token == "aws:iam/role:Role":
            state.update(arn=f"arn:aws:iam::{MOCK_ACCOUNT}:role/{resource_id}", name=resource_id)
        elif token == "aws:iam/instanceProfile:InstanceProfile":
            state.update(arn=f"arn:aws:iam::{MOCK_ACCOUNT}:instance-profile/{resource_id}", name=resource_id)
        elif token == "aws:kms/key:Key":
            key_id = _fake_id(name, length=8) + "-0000-4000-8000-" + _fake_id(name, "k", length=12)
            resource_id = key_id
            state.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{MOCK_ACCOUNT}:key/{key_id}")
        elif token == "aws:ec2/keyPair:KeyPair":
            state.update(keyName=resource_id)
        elif token == "random:index/randomPassword:RandomPassword":
            state["result"] = "Mock" + _fake_id(name, length=int(inputs.get("length", 16)) - 4) + "Pw9"
        elif token == "random:index/randomString:RandomString":
            state["result"] = _fake_id(name, length=int(inputs.get("length", 6)))
        elif token == "tls:index/privateKey:PrivateKey":
            state.update(
                privateKeyPem="-----BEGIN RSA PRIVATE KEY-----\nMOCK"
                + _fake_id(name)
                + "\n-----END RSA PRIVATE KEY-----\n",
                publicKeyPem="-----BEGIN PUBLIC KEY-----\nMOCK\n-----END PUBLIC KEY-----\n",
            )
        elif token == "tls:index/selfSignedCert:SelfSignedCert":
            state["certPem"] = "-----BEGIN CERTIFICATE-----\nMOCK" + _fake_id(name) + "\n-----END CERTIFICATE-----\n"
        return resource_id, state
