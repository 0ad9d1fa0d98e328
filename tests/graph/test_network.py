"""The network, resource by resource, as the mock engine received it."""

from __future__ import annotations

from pathlib import Path

from orthweb.evaluate import Evaluation, evaluate


def _by_name(evaluation: Evaluation, token: str) -> dict[str, dict]:
    return {r.name: r.inputs for r in evaluation.of_type(token)}


def test_one_public_and_one_private_subnet_in_each_of_the_first_two_zones(stack: Evaluation) -> None:
    subnets = _by_name(stack, "aws:ec2/subnet:Subnet")
    assert sorted(subnets) == [
        "orthweb-network-private-a",
        "orthweb-network-private-b",
        "orthweb-network-public-a",
        "orthweb-network-public-b",
    ]
    region = stack.outputs["region"]
    zones = {name: inputs["availabilityZone"] for name, inputs in subnets.items()}
    assert zones["orthweb-network-public-a"] == zones["orthweb-network-private-a"] == f"{region}a"
    assert zones["orthweb-network-public-b"] == zones["orthweb-network-private-b"] == f"{region}b"
    assert all(inputs["mapPublicIpOnLaunch"] is False for inputs in subnets.values())
    vpc = stack.one("aws:ec2/vpc:Vpc").inputs
    assert vpc["cidrBlock"] == stack.config.vpc_cidr
    assert vpc["enableDnsHostnames"] and vpc["enableDnsSupport"]


def test_private_subnets_have_their_own_table_without_internet_route(stack: Evaluation) -> None:
    tables = {r.urn: r for r in stack.of_type("aws:ec2/routeTable:RouteTable")}
    assert len(tables) == 2
    public = stack.named("orthweb-network-public-routes")
    private = stack.named("orthweb-network-private-routes")
    assert [route["cidrBlock"] for route in public.inputs["routes"]] == ["0.0.0.0/0"]
    assert public.inputs["routes"][0]["gatewayId"] == stack.one("aws:ec2/internetGateway:InternetGateway").id
    assert not private.inputs.get("routes")
    table_of = {
        stack.by_urn(r.property_dependencies["subnetId"][0]).name: r.inputs["routeTableId"]
        for r in stack.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    assert table_of == {
        "orthweb-network-public-a": public.id,
        "orthweb-network-public-b": public.id,
        "orthweb-network-private-a": private.id,
        "orthweb-network-private-b": private.id,
    }


def _endpoints(evaluation: Evaluation) -> dict[str, dict]:
    return {r.inputs["serviceName"]: r.inputs for r in evaluation.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}


def test_s3_gateway_endpoint_on_both_tables_and_the_secrets_endpoint_only_in_prod(stack: Evaluation) -> None:
    region = stack.outputs["region"]
    paid = [f"com.amazonaws.{region}.secretsmanager"] if stack.config.is_production else []
    assert sorted(_endpoints(stack)) == [f"com.amazonaws.{region}.s3", *paid]
    s3 = _endpoints(stack)[f"com.amazonaws.{region}.s3"]
    assert s3["vpcEndpointType"] == "Gateway"
    assert sorted(s3["routeTableIds"]) == sorted(r.id for r in stack.of_type("aws:ec2/routeTable:RouteTable"))


def test_secrets_manager_interface_endpoint_in_the_private_subnets_when_asked_for(empty_home: Path) -> None:
    stack = evaluate("prod", {"deploymentOptions": {"secretsManagerEndpoint": True}}, home=empty_home)
    secrets = _endpoints(stack)[f"com.amazonaws.{stack.outputs['region']}.secretsmanager"]
    assert secrets["vpcEndpointType"] == "Interface" and secrets["privateDnsEnabled"] is True
    private_ids = {stack.named(f"orthweb-network-private-{s}").id for s in "ab"}
    assert set(secrets["subnetIds"]) == private_ids
    (firewall,) = [r for r in stack.of_type("aws:ec2/securityGroup:SecurityGroup") if "endpoint" in r.name]
    assert secrets["securityGroupIds"] == [firewall.id]


def test_default_security_group_is_locked(stack: Evaluation) -> None:
    default = stack.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert default.get("ingress", []) == [] and default.get("egress", []) == []


def test_flow_logs_capture_all_traffic_into_the_log_bucket(stack: Evaluation) -> None:
    flow = stack.one("aws:ec2/flowLog:FlowLog").inputs
    log_bucket = stack.named("orthweb-storage-logs").state
    assert flow["trafficType"] == "ALL"
    assert flow["logDestinationType"] == "s3"
    assert flow["logDestination"].startswith(log_bucket["arn"] + "/")
    assert flow["vpcId"] == stack.one("aws:ec2/vpc:Vpc").id
