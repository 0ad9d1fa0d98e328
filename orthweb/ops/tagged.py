"""One stack's resources in one region, found by the tags the program puts on them.

Every taggable resource carries `orthweb:project=orthweb` and `orthweb:stack=<stack>`; the hosts,
the Elastic IP and the secrets also carry `orthweb:role`. Lookups never read Pulumi state, so the
user's ordinary AWS credentials are all they need. Failover and verify share them, so both agree
on what "the stack" is. Each lookup raises `OpsError` when it does not find exactly one thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orthweb.infra.tags import with_role
from orthweb.ops.aws import AwsClients, OpsError, call_aws, tag_filters, tags_of
from orthweb.shared.constants import (
    GROUP_MEMBER,
    HOST_ROLES,
    PROJECT,
    PROJECT_TAG,
    ROLE_TAG,
    SITE_ROLE,
    SITE_ROUTE_ROLE,
    SITE_TLS_ROLE,
    STACK_TAG,
)

# Instance states of a host that still exists (terminated ones linger in the API for a while).
LIVE_STATES = ("pending", "running", "stopping", "stopped")


@dataclass(frozen=True)
class Host:
    role: str
    instance_id: str
    state: str
    public_ip: str | None
    public_dns: str | None
    availability_zone: str

    @property
    def address(self) -> str | None:
        return self.public_ip or self.public_dns or None

    def describe(self) -> str:
        return f"{self.role} {self.instance_id} ({self.availability_zone}, {self.state})"


@dataclass(frozen=True)
class SiteAddress:
    allocation_id: str
    public_ip: str
    instance_id: str | None


class TaggedStack:
    def __init__(self, clients: AwsClients, stack: str) -> None:
        self.clients = clients
        self.stack = stack

    def site_address(self) -> SiteAddress:
        """The Elastic IP (`orthweb:role=site`) and the instance holding it, if any."""
        found = call_aws(self.clients.ec2, "describe_addresses", Filters=tag_filters(self.stack, (SITE_ROLE,)))
        addresses = found.get("Addresses", [])
        if len(addresses) != 1:
            what = "no Elastic IP" if not addresses else f"{len(addresses)} Elastic IPs"
            raise OpsError(
                f"found {what} tagged {PROJECT_TAG}={PROJECT}, {STACK_TAG}={self.stack}, "
                f"{ROLE_TAG}={SITE_ROLE} in {self.clients.region}; check --stack and --region"
            )
        address = addresses[0]
        return SiteAddress(address["AllocationId"], address["PublicIp"], address.get("InstanceId"))

    def runs_scale_out(self) -> bool:
        """Whether the stack runs the scale-out topology: hosts of its Auto Scaling group, or the
        load balancer's several site addresses (the failover topology has one)."""
        filters = [
            *tag_filters(self.stack, (GROUP_MEMBER,)),
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ]
        members = call_aws(self.clients.ec2, "describe_instances", Filters=filters).get("Reservations", [])
        if any(reservation.get("Instances") for reservation in members):
            return True
        found = call_aws(self.clients.ec2, "describe_addresses", Filters=tag_filters(self.stack, (SITE_ROLE,)))
        return len(found.get("Addresses", [])) > 1

    def hosts(self) -> dict[str, Host]:
        """The primary and the secondary host, by role."""
        filters = [*tag_filters(self.stack, HOST_ROLES), {"Name": "instance-state-name", "Values": list(LIVE_STATES)}]
        found = call_aws(self.clients.ec2, "describe_instances", Filters=filters)
        hosts: dict[str, list[Host]] = {role: [] for role in HOST_ROLES}
        for reservation in found.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                host = host_of(instance)
                hosts[host.role].append(host)
        for role, candidates in hosts.items():
            if len(candidates) != 1:
                what = "no" if not candidates else str(len(candidates))
                raise OpsError(
                    f"found {what} {role} host tagged {PROJECT_TAG}={PROJECT}, "
                    f"{STACK_TAG}={self.stack}, {ROLE_TAG}={role} in {self.clients.region}"
                )
        return {role: candidates[0] for role, candidates in hosts.items()}

    def site_route(self) -> dict[str, Any] | None:
        """The VPN gateway's route table that sends the site's private address to the serving host
        (stacks with `hospitalNetwork` in the failover topology), or None."""
        filters = tag_filters(self.stack, (SITE_ROUTE_ROLE,))
        tables = call_aws(self.clients.ec2, "describe_route_tables", Filters=filters).get("RouteTables", [])
        return tables[0] if tables else None

    def primary_interface(self, instance_id: str) -> str:
        """The id of a host's primary network interface (device 0)."""
        found = call_aws(self.clients.ec2, "describe_instances", InstanceIds=[instance_id])
        interfaces = found["Reservations"][0]["Instances"][0].get("NetworkInterfaces", [])
        for interface in interfaces:
            if interface.get("Attachment", {}).get("DeviceIndex") == 0:
                return interface["NetworkInterfaceId"]
        raise OpsError(f"host {instance_id} has no primary network interface")

    def host(self, instance_id: str) -> Host:
        """One host as EC2 describes it now."""
        found = call_aws(self.clients.ec2, "describe_instances", InstanceIds=[instance_id])
        return host_of(found["Reservations"][0]["Instances"][0])

    def secrets(self, role: str) -> list[dict[str, Any]]:
        """The stack's Secrets Manager entries (ARN, Name, Tags) tagged with `role`."""
        wanted = with_role(self.stack, role).items()
        matches: list[dict[str, Any]] = []
        paging: dict[str, Any] = {}
        while True:
            page = call_aws(
                self.clients.secretsmanager,
                "list_secrets",
                Filters=[{"Key": "tag-key", "Values": [ROLE_TAG]}, {"Key": "tag-value", "Values": [role]}],
                **paging,
            )
            matches += [entry for entry in page.get("SecretList", []) if wanted <= tags_of(entry.get("Tags")).items()]
            if not page.get("NextToken"):
                return matches
            paging = {"NextToken": page["NextToken"]}

    def site_certificate(self) -> str:
        """The site certificate (PEM) from the `site-tls` secret; the key in it is never read."""
        matches = self.secrets(SITE_TLS_ROLE)
        if len(matches) != 1:
            raise OpsError(
                f"found {len(matches)} Secrets Manager secrets tagged "
                f"{ROLE_TAG}={SITE_TLS_ROLE} for stack {self.stack}; the health check needs the "
                f"site certificate to trust"
            )
        value = call_aws(self.clients.secretsmanager, "get_secret_value", SecretId=matches[0]["ARN"])
        try:
            certificate = json.loads(value["SecretString"])["certificate"]
        except (KeyError, TypeError, ValueError):
            raise OpsError(f"secret {matches[0]['Name']} is not JSON with a 'certificate' field") from None
        if "-----BEGIN CERTIFICATE-----" not in str(certificate):
            raise OpsError(f"secret {matches[0]['Name']} holds no PEM certificate")
        return str(certificate)


def host_of(instance: dict[str, Any]) -> Host:
    """A host from one `describe_instances` instance entry."""
    tags = tags_of(instance.get("Tags"))
    return Host(
        role=tags.get(ROLE_TAG, "?"),
        instance_id=instance["InstanceId"],
        state=instance["State"]["Name"],
        public_ip=instance.get("PublicIpAddress") or None,
        public_dns=instance.get("PublicDnsName") or None,
        availability_zone=instance.get("Placement", {}).get("AvailabilityZone", "?"),
    )
