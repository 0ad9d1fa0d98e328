"""The VPC: public and private subnets in two AZs, endpoints, a locked default SG, flow logs."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.constants import FLOW_LOGS_PREFIX, HTTPS_PORT, ZONE_SUFFIXES
from orthweb.infra.cidr import plan_subnets
from orthweb.infra.firewall import FirewallArgs, Rule, firewall
from orthweb.infra.tags import stack_tags, with_name


@dataclass(frozen=True)
class NetworkArgs:
    stack: str
    vpc_cidr: str
    availability_zones: pulumi.Input[list[str]]
    region: pulumi.Input[str]
    flow_log_bucket_arn: pulumi.Input[str]


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = stack_tags(args.stack)
        plan = plan_subnets(args.vpc_cidr)
        zones = pulumi.Output.from_input(args.availability_zones)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            # Interface endpoints with private DNS need both.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=with_name(args.stack),
            opts=child,
        )
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg-locked", vpc_id=self.vpc.id, ingress=[], egress=[], tags=tags, opts=child
        )
        internet_gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=tags, opts=child)

        public_routes = aws.ec2.RouteTable(
            f"{name}-public-routes",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=internet_gateway.id)],
            tags=with_name(args.stack, "public"),
            opts=child,
        )
        # No route to the internet: the database subnets reach AWS only through endpoints.
        private_routes = aws.ec2.RouteTable(
            f"{name}-private-routes",
            vpc_id=self.vpc.id,
            tags=with_name(args.stack, "private"),
            opts=child,
        )

        self.public_subnet_ids = []
        self.private_subnet_ids = []
        for index, suffix in enumerate(ZONE_SUFFIXES):
            zone = zones.apply(lambda names, i=index: names[i])
            for tier, cidrs, routes, ids in (
                ("public", plan.public, public_routes, self.public_subnet_ids),
                ("private", plan.private, private_routes, self.private_subnet_ids),
            ):
                subnet = aws.ec2.Subnet(
                    f"{name}-{tier}-{suffix}",
                    vpc_id=self.vpc.id,
                    cidr_block=cidrs[index],
                    availability_zone=zone,
                    # Hosts ask for their public address explicitly; nothing else gets one.
                    map_public_ip_on_launch=False,
                    tags=with_name(args.stack, tier, suffix),
                    opts=child,
                )
                aws.ec2.RouteTableAssociation(
                    f"{name}-{tier}-{suffix}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=child
                )
                ids.append(subnet.id)

        region = pulumi.Output.from_input(args.region)
        aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=self.vpc.id,
            service_name=region.apply(lambda r: f"com.amazonaws.{r}.s3"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[public_routes.id, private_routes.id],
            tags=tags,
            opts=child,
        )
        endpoint_firewall = firewall(
            f"{name}-endpoint-sg",
            FirewallArgs(
                vpc_id=self.vpc.id,
                description="HTTPS from inside the VPC to interface endpoints",
                tags=tags,
                ingress=(Rule("https", "HTTPS from the VPC", HTTPS_PORT, cidrs=(args.vpc_cidr,)),),
            ),
            parent=self,
        )
        aws.ec2.VpcEndpoint(
            f"{name}-secretsmanager-endpoint",
            vpc_id=self.vpc.id,
            service_name=region.apply(lambda r: f"com.amazonaws.{r}.secretsmanager"),
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=self.private_subnet_ids,
            security_group_ids=[endpoint_firewall.id],
            tags=tags,
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="s3",
            log_destination=pulumi.Output.concat(args.flow_log_bucket_arn, "/", FLOW_LOGS_PREFIX),
            tags=tags,
            opts=child,
        )
        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )
