"""The mock engine's answers: fabricated but well-formed values for what AWS would compute.

Each data source and each resource type the program uses has one small function in a table, so
adding a type means adding one function and one row.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from orthweb.evaluate.ec2_types import recorded_types
from orthweb.evaluate.mock_account import MOCK_ACCOUNT, LiveHost, MockAccount, assumed_role, session_issuer
from orthweb.evaluate.mock_cognito import COGNITO_RESOURCES
from orthweb.shared.constants import POSTGRES_PORT, ROLE_TAG

__all__ = ["MOCK_ACCOUNT", "MockAccount", "OfflineMocks", "assumed_role"]

SITE_PUBLIC_IP = "203.0.113.10"


def _fake_id(*parts: str, length: int = 17) -> str:
    """A stable hex id derived from `parts`, so repeated evaluations give the same graph."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _instance_id(name: str) -> str:
    return "i-" + _fake_id(name)


# --- data sources ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSourceCall:
    region: str
    # Resource name of the host that holds the Elastic IP already, or None.
    site_holder: str | None
    arguments: Mapping[str, Any]
    account: MockAccount


def _caller_identity(call: DataSourceCall) -> dict[str, Any]:
    return {
        "accountId": MOCK_ACCOUNT,
        "arn": call.account.caller_arn,
        "userId": "AROAEXAMPLE:session",
        "id": MOCK_ACCOUNT,
    }


def _session_context(call: DataSourceCall) -> dict[str, Any]:
    arn = call.arguments.get("arn", "")
    issuer = session_issuer(call.account, arn)
    return {"arn": arn, "issuerArn": issuer, "issuerName": issuer.rsplit("/", 1)[-1], "id": arn}


def _partition(call: DataSourceCall) -> dict[str, Any]:
    partition = call.account.partition
    return {"partition": partition, "dnsSuffix": "amazonaws.com", "id": partition}


def _region(call: DataSourceCall) -> dict[str, Any]:
    region = call.region
    return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}


def _availability_zones(call: DataSourceCall) -> dict[str, Any]:
    names = call.account.zones(call.region)
    return {"names": names, "zoneIds": [f"use1-az{i}" for i in range(1, len(names) + 1)], "id": call.region}


def _instance_type_offerings(call: DataSourceCall) -> dict[str, Any]:
    types = [v for f in call.arguments.get("filters") or [] if f["name"] == "instance-type" for v in f["values"]]
    location_type = call.arguments.get("locationType") or "region"
    offers = [
        (instance_type, location)
        for instance_type in types
        for location in (
            call.account.zones_offering(call.region, instance_type)
            if location_type == "availability-zone"
            else [call.region]
        )
    ]
    return {
        "instanceTypes": [t for t, _ in offers],
        "locations": [location for _, location in offers],
        "locationTypes": [location_type] * len(offers),
        "id": call.region,
    }


def _instance_type(call: DataSourceCall) -> dict[str, Any]:
    # EC2's recorded answer, or nothing beyond the name for a type the table does not hold.
    name = str(call.arguments.get("instanceType", ""))
    recorded = recorded_types().get(name)
    if recorded is None:
        return {"instanceType": name, "id": name}
    return {
        "instanceType": name,
        "supportedArchitectures": list(recorded.architectures),
        "autoRecoverySupported": recorded.auto_recovery_supported,
        "id": name,
    }


def _db_instance_lookup(call: DataSourceCall) -> dict[str, Any]:
    """An existing instance (the source of a restore): encrypted with a key of its own stack's."""
    identifier = str(call.arguments.get("dbInstanceIdentifier", ""))
    prefix = f"arn:{call.account.partition}:%s:{call.region}:{MOCK_ACCOUNT}"
    return {
        "dbInstanceIdentifier": identifier,
        "dbInstanceArn": f"{prefix % 'rds'}:db:{identifier}",
        "kmsKeyId": f"{prefix % 'kms'}:key/{source_key_id(identifier)}",
        "storageEncrypted": True,
        "id": identifier,
    }


def source_key_id(identifier: str) -> str:
    """The key id the mock engine gives an existing instance's key."""
    return _fake_id("source-key", identifier, length=32)


def _engine_version(call: DataSourceCall) -> dict[str, Any]:
    # A partial version with `latest` names the newest release of that major.
    version = str(call.arguments.get("version", "17"))
    actual = version if "." in version else f"{version}.6"
    family = f"postgres{actual.split('.')[0]}"
    return {
        "engine": call.arguments.get("engine"),
        "version": actual,
        "versionActual": actual,
        "parameterGroupFamily": family,
        "id": actual,
    }


def _orderable_db_instance(call: DataSourceCall) -> dict[str, Any]:
    # The options name full versions (17.6); the program asks with the one getEngineVersion found.
    version = str(call.arguments.get("engineVersion") or "")
    db_class = str(call.arguments.get("instanceClass") or "")
    if "." not in version:
        raise LookupError("no RDS Orderable DB Instance Options found matching criteria; try different search")
    return {
        "availabilityZones": call.account.zones_offering(call.region, db_class),
        "engine": call.arguments.get("engine"),
        "engineVersion": version,
        "instanceClass": db_class,
        "storageType": call.arguments.get("storageType"),
        "id": db_class,
    }


def _ssm_parameter(call: DataSourceCall) -> dict[str, Any]:
    name = call.arguments.get("name", "")
    return {"name": name, "value": "ami-" + _fake_id(name), "type": "String", "id": name}


def _image(call: DataSourceCall) -> dict[str, Any]:
    # The program asks for one AMI by its id.
    wanted = [v for f in call.arguments.get("filters") or [] if f["name"] == "image-id" for v in f["values"]]
    if len(wanted) != 1:
        raise LookupError(f"the offline engine answers getAmi for one image-id filter, not {call.arguments}")
    image_id = wanted[0]
    answer: dict[str, Any] = {"id": image_id, "imageId": image_id}
    if image_id in call.account.images:
        answer["architecture"] = call.account.images[image_id]
    return answer


def _live_instance_id(role: str) -> str:
    return "i-live" + _fake_id(role, length=11)


def _instances(call: DataSourceCall) -> dict[str, Any]:
    role = (call.arguments.get("instanceTags") or {}).get(ROLE_TAG)
    states = call.arguments.get("instanceStateNames") or ["running"]
    hosts = {r: h for r, h in call.account.live_hosts.items() if r == role and h.state in states}
    return {"ids": [_live_instance_id(r) for r in hosts], "privateIps": [], "publicIps": [], "id": call.region}


def _instance(call: DataSourceCall) -> dict[str, Any]:
    wanted = call.arguments.get("instanceId")
    found: LiveHost | None = next(
        (h for r, h in call.account.live_hosts.items() if _live_instance_id(r) == wanted), None
    )
    if found is None:
        raise LookupError(f"no EC2 Instance found matching criteria ({wanted})")
    return {
        "id": wanted,
        "ami": found.ami,
        # Only with get_user_data, as the provider does.
        "userDataBase64": found.user_data_base64 if call.arguments.get("getUserData") else "",
        "subnetId": found.subnet_id,
        "keyName": found.key_name,
        "instanceState": found.state,
        "instanceType": found.instance_type,
        "rootBlockDevices": [{"deviceName": "/dev/xvda", "encrypted": True, "kmsKeyId": found.root_volume_key_arn}],
    }


def _elastic_ips(call: DataSourceCall) -> dict[str, Any]:
    if call.site_holder is None:
        return {"allocationIds": [], "publicIps": [], "id": call.region}
    return {"allocationIds": ["eipalloc-existing"], "publicIps": [SITE_PUBLIC_IP], "id": call.region}


def _elastic_ip(call: DataSourceCall) -> dict[str, Any]:
    holder = _instance_id(call.site_holder) if call.site_holder else ""
    return {"id": call.arguments.get("id", ""), "instanceId": holder, "publicIp": SITE_PUBLIC_IP}


_DATA_SOURCES: dict[str, Callable[[DataSourceCall], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:iam/getSessionContext:getSessionContext": _session_context,
    "aws:index/getPartition:getPartition": _partition,
    "aws:index/getRegion:getRegion": _region,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": _instance_type_offerings,
    "aws:ec2/getInstanceType:getInstanceType": _instance_type,
    "aws:rds/getEngineVersion:getEngineVersion": _engine_version,
    "aws:rds/getInstance:getInstance": _db_instance_lookup,
    "aws:rds/getOrderableDbInstance:getOrderableDbInstance": _orderable_db_instance,
    "aws:ssm/getParameter:getParameter": _ssm_parameter,
    "aws:ec2/getEips:getEips": _elastic_ips,
    "aws:ec2/getInstances:getInstances": _instances,
    "aws:ec2/getInstance:getInstance": _instance,
    "aws:ec2/getAmi:getAmi": _image,
    "aws:ec2/getElasticIp:getElasticIp": _elastic_ip,
}


# --- resources -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewResource:
    token: str
    name: str
    region: str
    inputs: Mapping[str, Any]
    # The id a type gets unless its function below says otherwise.
    default_id: str
    partition: str = "aws"


# A type's physical id and the state fields AWS would compute for it.
Fabricated = tuple[str, dict[str, Any]]


def _bucket(r: NewResource) -> Fabricated:
    bucket = r.inputs.get("bucket") or (r.inputs.get("bucketPrefix") or r.name) + _fake_id(r.name, length=8)
    return bucket, {
        "bucket": bucket,
        "arn": f"arn:{r.partition}:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{r.region}.amazonaws.com",
    }


def _ec2_instance(r: NewResource) -> Fabricated:
    return _instance_id(r.name), {
        "privateIp": "172.27.0.10",
        "publicIp": "198.51.100.20",
        "instanceState": "running",
        "primaryNetworkInterfaceId": "eni-" + _fake_id(r.name),
    }


def _elastic_ip_allocation(r: NewResource) -> Fabricated:
    allocation_id = "eipalloc-" + _fake_id(r.name)
    # The failover topology's one address is SITE_PUBLIC_IP; the load balancer's get their own.
    public_ip = (
        SITE_PUBLIC_IP
        if r.name.endswith("-site-ip")
        else f"203.0.113.{100 + int(_fake_id(r.name, length=2), 16) % 100}"
    )
    dashed = public_ip.replace(".", "-")
    # us-east-1 public DNS names use "compute-1"; other regions name the region.
    if r.region == "us-east-1":
        public_dns = f"ec2-{dashed}.compute-1.amazonaws.com"
    else:
        public_dns = f"ec2-{dashed}.{r.region}.compute.amazonaws.com"
    return allocation_id, {"allocationId": allocation_id, "publicIp": public_ip, "publicDns": public_dns}


def _load_balancer(r: NewResource) -> Fabricated:
    name = str(r.inputs.get("name") or r.name)
    suffix = _fake_id(r.name, length=16)
    arn = f"arn:{r.partition}:elasticloadbalancing:{r.region}:{MOCK_ACCOUNT}:loadbalancer/net/{name}/{suffix}"
    return arn, {
        "arn": arn,
        "arnSuffix": f"net/{name}/{suffix}",
        "dnsName": f"{name}-{suffix}.elb.{r.region}.amazonaws.com",
        # The hosted zone of network load balancers in us-east-1 (Route53 alias target).
        "zoneId": "Z26RNL4JYFTOTI",
    }


def _target_group(r: NewResource) -> Fabricated:
    name = str(r.inputs.get("name") or r.name)
    suffix = _fake_id(r.name, length=16)
    arn = f"arn:{r.partition}:elasticloadbalancing:{r.region}:{MOCK_ACCOUNT}:targetgroup/{name}/{suffix}"
    return arn, {"arn": arn, "arnSuffix": f"targetgroup/{name}/{suffix}"}


def _acm_certificate(r: NewResource) -> Fabricated:
    arn = f"arn:{r.partition}:acm:{r.region}:{MOCK_ACCOUNT}:certificate/{_fake_id(r.name, length=8)}"
    domain = str(r.inputs.get("domainName", ""))
    token = _fake_id(r.name, "validation", length=32)
    validation = {
        "domainName": domain,
        "resourceRecordName": f"_{token}.{domain}.",
        "resourceRecordType": "CNAME",
        "resourceRecordValue": f"_{token[::-1]}.acm-validations.aws.",
    }
    return arn, {"arn": arn, "domainValidationOptions": [validation], "status": "PENDING_VALIDATION"}


def _route53_record(r: NewResource) -> Fabricated:
    name = str(r.inputs.get("name", r.name)).rstrip(".")
    return f"{r.inputs.get('zoneId', 'Z0')}_{name}_{r.inputs.get('type', 'A')}", {"fqdn": name}


def _vpc_endpoint(r: NewResource) -> Fabricated:
    return "vpce-" + _fake_id(r.name), {}


def _launch_template(r: NewResource) -> Fabricated:
    return "lt-" + _fake_id(r.name), {"latestVersion": 1, "defaultVersion": 1}


def _db_instance(r: NewResource) -> Fabricated:
    identifier = r.inputs.get("identifier", r.name)
    address = f"{identifier}.cexample123.{r.region}.rds.amazonaws.com"
    master_user_secret = {
        "secretArn": f"arn:{r.partition}:secretsmanager:{r.region}:{MOCK_ACCOUNT}:secret:rds!db-{_fake_id(identifier)}",
        "kmsKeyId": r.inputs.get("masterUserSecretKmsKeyId", ""),
        "secretStatus": "active",
    }
    return r.default_id, {
        "address": address,
        "endpoint": f"{address}:{POSTGRES_PORT}",
        "port": POSTGRES_PORT,
        "arn": f"arn:{r.partition}:rds:{r.region}:{MOCK_ACCOUNT}:db:{identifier}",
        "masterUserSecrets": [master_user_secret],
    }


def _secret(r: NewResource) -> Fabricated:
    secret_name = (r.inputs.get("namePrefix") or r.name) + _fake_id(r.name, length=6)
    arn = f"arn:{r.partition}:secretsmanager:{r.region}:{MOCK_ACCOUNT}:secret:{secret_name}"
    return arn, {"arn": arn, "name": secret_name}


def _role(r: NewResource) -> Fabricated:
    return r.default_id, {"arn": f"arn:{r.partition}:iam::{MOCK_ACCOUNT}:role/{r.default_id}", "name": r.default_id}


def _service_linked_role(r: NewResource) -> Fabricated:
    # IAM names it after the service, with the suffix, under the service's own path.
    service = str(r.inputs.get("awsServiceName", ""))
    prefix = "AWSServiceRoleForAutoScaling" if service == "autoscaling.amazonaws.com" else "AWSServiceRoleFor"
    suffix = r.inputs.get("customSuffix")
    name = f"{prefix}_{suffix}" if suffix else prefix
    arn = f"arn:{r.partition}:iam::{MOCK_ACCOUNT}:role/aws-service-role/{service}/{name}"
    return arn, {"arn": arn, "name": name, "path": f"/aws-service-role/{service}/"}


def _instance_profile(r: NewResource) -> Fabricated:
    arn = f"arn:{r.partition}:iam::{MOCK_ACCOUNT}:instance-profile/{r.default_id}"
    return r.default_id, {"arn": arn, "name": r.default_id}


def _kms_key(r: NewResource) -> Fabricated:
    key_id = _fake_id(r.name, length=8) + "-0000-4000-8000-" + _fake_id(r.name, "k", length=12)
    return key_id, {"keyId": key_id, "arn": f"arn:{r.partition}:kms:{r.region}:{MOCK_ACCOUNT}:key/{key_id}"}


def _key_pair(r: NewResource) -> Fabricated:
    return r.default_id, {"keyName": r.default_id}


def _random_password(r: NewResource) -> Fabricated:
    length = int(r.inputs.get("length", 16))
    return r.default_id, {"result": "Mock" + _fake_id(r.name, length=length - 4) + "Pw9"}


def _random_string(r: NewResource) -> Fabricated:
    return r.default_id, {"result": _fake_id(r.name, length=int(r.inputs.get("length", 6)))}


def _pem(label: str, body: str) -> str:
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def _private_key(r: NewResource) -> Fabricated:
    return r.default_id, {
        "privateKeyPem": _pem("RSA PRIVATE KEY", "MOCK" + _fake_id(r.name)),
        "publicKeyPem": _pem("PUBLIC KEY", "MOCK"),
    }


def _self_signed_cert(r: NewResource) -> Fabricated:
    return r.default_id, {"certPem": _pem("CERTIFICATE", "MOCK" + _fake_id(r.name))}


def _cert_request(r: NewResource) -> Fabricated:
    return r.default_id, {"certRequestPem": _pem("CERTIFICATE REQUEST", "MOCK" + _fake_id(r.name))}


def _locally_signed_cert(r: NewResource) -> Fabricated:
    # Valid base64, like a real certificate: its fingerprint is pinned in Envoy's configuration.
    der = hashlib.sha256(r.name.encode()).digest()
    return r.default_id, {"certPem": _pem("CERTIFICATE", base64.b64encode(der).decode())}


def _log_group(r: NewResource) -> Fabricated:
    # The provider's `arn` drops the ":*" that DescribeLogGroups shows.
    name = r.inputs.get("name") or r.default_id
    return name, {"arn": f"arn:{r.partition}:logs:{r.region}:{MOCK_ACCOUNT}:log-group:{name}", "name": name}


def _sns_topic(r: NewResource) -> Fabricated:
    arn = f"arn:{r.partition}:sns:{r.region}:{MOCK_ACCOUNT}:{r.inputs.get('name') or r.default_id}"
    return arn, {"arn": arn}


def _metric_alarm(r: NewResource) -> Fabricated:
    name = r.inputs.get("name") or r.default_id
    return name, {"arn": f"arn:{r.partition}:cloudwatch:{r.region}:{MOCK_ACCOUNT}:alarm:{name}"}


def _backup_vault(r: NewResource) -> Fabricated:
    name = r.inputs.get("name") or r.default_id
    return name, {"arn": f"arn:{r.partition}:backup:{r.region}:{MOCK_ACCOUNT}:backup-vault:{name}", "name": name}


def _lambda_function(r: NewResource) -> Fabricated:
    name = r.inputs.get("name") or r.default_id
    return name, {"arn": f"arn:{r.partition}:lambda:{r.region}:{MOCK_ACCOUNT}:function:{name}", "name": name}


def _sqs_queue(r: NewResource) -> Fabricated:
    name = r.inputs.get("name") or r.default_id
    url = f"https://sqs.{r.region}.amazonaws.com/{MOCK_ACCOUNT}/{name}"
    return url, {"arn": f"arn:{r.partition}:sqs:{r.region}:{MOCK_ACCOUNT}:{name}", "name": name, "url": url}


AWS_PROVIDER = "pulumi:providers:aws"

_RESOURCES: dict[str, Callable[[NewResource], Fabricated]] = {
    "aws:backup/vault:Vault": _backup_vault,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:ec2/instance:Instance": _ec2_instance,
    "aws:ec2/eip:Eip": _elastic_ip_allocation,
    "aws:rds/instance:Instance": _db_instance,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:iam/role:Role": _role,
    "aws:iam/instanceProfile:InstanceProfile": _instance_profile,
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": _service_linked_role,
    "aws:kms/key:Key": _kms_key,
    "aws:ec2/keyPair:KeyPair": _key_pair,
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomString:RandomString": _random_string,
    "tls:index/privateKey:PrivateKey": _private_key,
    "tls:index/selfSignedCert:SelfSignedCert": _self_signed_cert,
    "tls:index/certRequest:CertRequest": _cert_request,
    "tls:index/locallySignedCert:LocallySignedCert": _locally_signed_cert,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:sns/topic:Topic": _sns_topic,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:acm/certificate:Certificate": _acm_certificate,
    "aws:route53/record:Record": _route53_record,
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:lambda/function:Function": _lambda_function,
    "aws:sqs/queue:Queue": _sqs_queue,
}
_RESOURCES.update(COGNITO_RESOURCES)


class OfflineMocks(pulumi_mocks.Mocks):
    """Answers every data-source call and resource registration from the tables above."""

    def __init__(self, region: str, site_holder: str | None = None, account: MockAccount | None = None) -> None:
        self.region = region
        # Resource name of the host that holds the Elastic IP already (as after a failover),
        # or None for a first deployment.
        self.site_holder = site_holder
        self.account = account or MockAccount()
        # Explicit AWS providers by resource name -> their region.
        self._provider_regions: dict[str, str] = {}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        answer = _DATA_SOURCES.get(args.token)
        if answer is None:
            raise NotImplementedError(f"the offline engine has no answer for data source {args.token}")
        # No check failures: the engine wants an empty list, not None.
        return answer(DataSourceCall(self.region, self.site_holder, args.args, self.account)), []

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        token, name, inputs = args.typ, args.name, dict(args.inputs)
        if token == AWS_PROVIDER:
            self._provider_regions[name] = str(inputs.get("region") or self.region)
        # A resource made through an explicit provider (`urn:...::<name>::<id>`) lives in its region.
        region = self._provider_regions.get((args.provider or "").split("::")[-2:][0], self.region)
        default_id = name + "-" + _fake_id(token, name, length=8)
        resource = NewResource(token, name, region, inputs, default_id, self.account.partition)
        state: dict[str, Any] = {**inputs}
        service = token.split(":")[1].split("/")[0] if ":" in token else "misc"
        state.setdefault("arn", f"arn:{self.account.partition}:{service}:{region}:{MOCK_ACCOUNT}:{name}")
        # Auto-named resources (parameter groups, subnet groups, ...) get their physical name.
        state.setdefault("name", resource.default_id)
        fabricate = _RESOURCES.get(token)
        if fabricate is None:
            return resource.default_id, state
        resource_id, computed = fabricate(resource)
        state.update(computed)
        return resource_id, state
