"""The VPC: public and private subnets in two AZs, endpoints, a locked default SG, flow logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra import policies
from orthweb.infra.cidr import plan_subnets
from orthweb.infra.durability import Durability
from orthweb.infra.firewall import FirewallArgs, Rule, firewall
from orthweb.infra.tags import stack_tags, with_name
from orthweb.shared.constants import FLOW_LOGS_PREFIX, HTTPS_PORT, ZONE_SUFFIXES


@dataclass(frozen=True)
class NetworkArgs:
    stack: str
    vpc_cidr: str
    availability_zones: pulumi.Input[list[str]]
    region: pulumi.Input[str]
    flow_log_bucket_arn: pulumi.Input[str]
    # A stack that keeps its data keeps the VPC and the private subnets on destroy: a kept
    # database's network interfaces live there.
    durability: Durability
    # An interface endpoint keeps the hosts' secret fetches inside the VPC (billed per AZ-hour), and
    # the hosts' role may then read its secrets only through it; without it they go over TLS
    # through the internet gateway, like every other AWS API call.
    secrets_manager_endpoint: bool = True
    # What must exist before the flow log: the log bucket's policy letting log delivery write.
    flow_log_waits_for: Sequence[pulumi.Resource] = ()


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    # The public and the private route table (a VPN gateway propagates its routes to both).
    route_table_ids: list[pulumi.Output[str]]
    # The Secrets Manager interface endpoint's id (None without one).
    secrets_endpoint_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:Network", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._held = pulumi.ResourceOptions(parent=self, retain_on_delete=args.durability.keep_data)
        self._tags = stack_tags(args.stack)

        subnet_plan = plan_subnets(args.vpc_cidr)
        self.vpc = self._create_vpc()
        public_routes, private_routes = self._create_route_tables()
        self.route_table_ids = [public_routes.id, private_routes.id]
        self.public_subnet_ids = self._create_subnets("public", subnet_plan.public, public_routes)
        self.private_subnet_ids = self._create_subnets("private", subnet_plan.private, private_routes)
        self.secrets_endpoint_id = self._create_endpoints(route_tables=[public_routes, private_routes])
        self._create_flow_logs()
        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    def _create_vpc(self) -> aws.ec2.Vpc:
        vpc = aws.ec2.Vpc(
            f"{self._name}-vpc",
            cidr_block=self._args.vpc_cidr,
            # Interface endpoints with private DNS need both.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=with_name(self._args.stack),
            opts=self._held,
        )
        aws.ec2.DefaultSecurityGroup(
            f"{self._name}-default-sg-locked", vpc_id=vpc.id, ingress=[], egress=[], tags=self._tags, opts=self._child
        )
        return vpc

    def _create_route_tables(self) -> tuple[aws.ec2.RouteTable, aws.ec2.RouteTable]:
        """The public table routes to the internet gateway; the private one has no internet route."""
        internet_gateway = aws.ec2.InternetGateway(
            f"{self._name}-igw", vpc_id=self.vpc.id, tags=self._tags, opts=self._child
        )
        public_routes = aws.ec2.RouteTable(
            f"{self._name}-public-routes",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=internet_gateway.id)],
            tags=with_name(self._args.stack, "public"),
            opts=self._child,
        )
        # The database subnets reach AWS only through endpoints.
        private_routes = aws.ec2.RouteTable(
            f"{self._name}-private-routes",
            vpc_id=self.vpc.id,
            tags=with_name(self._args.stack, "private"),
            opts=self._child,
        )
        return public_routes, private_routes

    def _create_subnets(
        self, tier: str, cidrs: tuple[str, str], routes: aws.ec2.RouteTable
    ) -> list[pulumi.Output[str]]:
        """One subnet of the tier per zone, each associated with the tier's route table."""
        zones = pulumi.Output.from_input(self._args.availability_zones)
        subnet_ids = []
        for index, suffix in enumerate(ZONE_SUFFIXES):
            subnet = aws.ec2.Subnet(
                f"{self._name}-{tier}-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=cidrs[index],
                availability_zone=zones.apply(lambda names, i=index: names[i]),
                # Hosts ask for their public address explicitly; nothing else gets one.
                map_public_ip_on_launch=False,
                tags=with_name(self._args.stack, tier, suffix),
                # The database lives in the private subnets.
                opts=self._held if tier == "private" else self._child,
            )
            aws.ec2.RouteTableAssociation(
                f"{self._name}-{tier}-{suffix}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=self._child
            )
            subnet_ids.append(subnet.id)
        return subnet_ids

    def _create_endpoints(self, route_tables: list[aws.ec2.RouteTable]) -> pulumi.Output[str] | None:
        """S3 through a gateway endpoint; Secrets Manager, when asked for, through an interface endpoint
        in the private subnets (its id, or None)."""
        region = pulumi.Output.from_input(self._args.region)
        aws.ec2.VpcEndpoint(
            f"{self._name}-s3-endpoint",
            vpc_id=self.vpc.id,
            service_name=region.apply(lambda r: f"com.amazonaws.{r}.s3"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in route_tables],
            tags=self._tags,
            opts=self._child,
        )
        if not self._args.secrets_manager_endpoint:
            return None
        endpoint_firewall = firewall(
            f"{self._name}-endpoint-sg",
            FirewallArgs(
                vpc_id=self.vpc.id,
                description="HTTPS from inside the VPC to interface endpoints",
                tags=self._tags,
                ingress=(Rule("https", "HTTPS from the VPC", HTTPS_PORT, cidrs=(self._args.vpc_cidr,)),),
            ),
            parent=self,
        )
        endpoint = aws.ec2.VpcEndpoint(
            f"{self._name}-secretsmanager-endpoint",
            vpc_id=self.vpc.id,
            service_name=region.apply(lambda r: f"com.amazonaws.{r}.secretsmanager"),
            vpc_endpoint_type="Interface",
            # The hosts' AWS CLI keeps the regional name, which then resolves to the endpoint.
            private_dns_enabled=True,
            subnet_ids=self.private_subnet_ids,
            security_group_ids=[endpoint_firewall.id],
            tags=self._tags,
            opts=self._child,
        )
        return endpoint.id

    def admit_secrets(
        self, secret_arns: pulumi.Input[list[str]], account_id: pulumi.Input[str]
    ) -> aws.ec2.VpcEndpointPolicy | None:
        """Let only these secrets through the Secrets Manager endpoint (a no-op without one).

        A resource of its own, created once the secrets exist (the database's only with the
        database), so the endpoint itself, and the hosts' first reads, never wait for RDS.
        """
        if self.secrets_endpoint_id is None:
            return None
        return aws.ec2.VpcEndpointPolicy(
            f"{self._name}-secretsmanager-endpoint-policy",
            vpc_endpoint_id=self.secrets_endpoint_id,
            policy=pulumi.Output.all(arns=secret_arns, account=account_id).apply(
                lambda v: policies.to_json(
                    policies.secrets_endpoint_policy(secret_arns=v["arns"], account_id=v["account"])
                )
            ),
            opts=self._child,
        )

    def _create_flow_logs(self) -> None:
        aws.ec2.FlowLog(
            f"{self._name}-flow-logs",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="s3",
            log_destination=pulumi.Output.concat(self._args.flow_log_bucket_arn, "/", FLOW_LOGS_PREFIX),
            tags=self._tags,
            # CreateFlowLogs checks the destination's permissions; without the policy in place it
            # fails or adds statements of its own to the bucket policy.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self._args.flow_log_waits_for)),
        )
