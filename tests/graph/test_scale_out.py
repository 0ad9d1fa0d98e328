"""The scale-out topology's resource graph: load balancer, listeners, target groups and their health
checks, the security-group chain, the launch template, the scaling group and its refresh policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from parliament import analyze_policy_string

from orthweb.evaluate import Evaluation, evaluate
from orthweb.evaluate.host_files import host_files, user_data_text
from orthweb.infra.load_balancer import DEREGISTRATION_DELAY_SECONDS, TLS_POLICY
from orthweb.infra.scaling_group import FIRST_BOOT_GRACE_SECONDS
from orthweb.shared.constants import (
    LB_HEALTH_PATH,
    LB_HEALTH_PORT,
    LOAD_BALANCER_LOGS_PREFIX,
    TRANSFER_IDLE_TIMEOUT_SECONDS,
)

LB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
GROUP = "aws:autoscaling/group:Group"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EIP = "aws:ec2/eip:Eip"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ZONE = "Z0123456789ABCDEFGHIJ"
DOMAIN = "pacs.example.org"
PORTS = (443, 11112)


@pytest.fixture(scope="module")
def scaled(empty_home: Path) -> Evaluation:
    return evaluate("dev", {"topology": "scale-out"}, home=empty_home)


@pytest.fixture(scope="module")
def scaled_prod(empty_home: Path) -> Evaluation:
    return evaluate("prod", {"topology": "scale-out"}, home=empty_home)


@pytest.fixture(scope="module")
def public_tls(empty_home: Path) -> Evaluation:
    """With a domain in a Route53 zone: ACM, TLS listeners and an alias record; CPU tracking on."""
    return evaluate(
        "dev",
        {
            "topology": "scale-out",
            "siteDomain": DOMAIN,
            "hostedZoneId": ZONE,
            "deploymentOptions": {"groupSize": 3, "groupMinSize": 2, "groupMaxSize": 6, "cpuTargetPercent": 60},
        },
        home=empty_home,
    )


def by_port(stack: Evaluation, token: str) -> dict[int, dict[str, Any]]:
    return {int(r.inputs["port"]): r.inputs for r in stack.of_type(token)}


def rules(stack: Evaluation, group_name: str, token: str) -> list[dict[str, Any]]:
    group = stack.named(group_name)
    return [r.inputs for r in stack.of_type(token) if r.inputs["securityGroupId"] == group.id]


# --- the load balancer ---------------------------------------------------------------------------


def test_no_failover_hosts_and_one_internet_facing_network_load_balancer(scaled: Evaluation) -> None:
    assert not scaled.of_type("aws:ec2/instance:Instance")
    assert not scaled.of_type("aws:ec2transitgateway/instanceState:InstanceState")
    nlb = scaled.one(LB).inputs
    assert nlb["loadBalancerType"] == "network" and nlb["internal"] is False
    assert nlb["enableCrossZoneLoadBalancing"] is True
    assert nlb["securityGroups"] == [scaled.named("orthweb-load-balancer-sg").id]


def test_one_fixed_address_per_public_subnet(scaled: Evaluation) -> None:
    mappings = scaled.one(LB).inputs["subnetMappings"]
    addresses = scaled.of_type(EIP)
    assert len(addresses) == 2 and all(a.inputs["domain"] == "vpc" for a in addresses)
    assert {m["allocationId"] for m in mappings} == {a.state["allocationId"] for a in addresses}
    assert {m["subnetId"] for m in mappings} == {scaled.named(f"orthweb-network-public-{s}").id for s in "ab"}
    assert sorted(scaled.outputs["site_ips"]) == sorted(a.state["publicIp"] for a in addresses)


def test_with_tls_listeners_access_logs_go_to_the_log_bucket_which_admits_them_first(public_tls: Evaluation) -> None:
    nlb = public_tls.one(LB)
    assert {listener["protocol"] for listener in by_port(public_tls, LISTENER).values()} == {"TLS"}
    # AWS refuses the idle timeout on TLS listeners (fixed 350 s): Envoy's TCP keepalives cover them.
    assert not any("tcpIdleTimeoutSeconds" in listener for listener in by_port(public_tls, LISTENER).values())
    logs = nlb.inputs["accessLogs"]
    assert logs == {
        "bucket": public_tls.named("orthweb-storage-logs").state["bucket"],
        "prefix": LOAD_BALANCER_LOGS_PREFIX,
        "enabled": True,
    }
    policy = public_tls.named("orthweb-storage-logs-policy")
    assert policy.urn in public_tls.ancestors(nlb.urn), "ELB checks its write access when logs are turned on"
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["LoadBalancerLogsWrite"]["Principal"] == {"Service": "delivery.logs.amazonaws.com"}


def test_with_tcp_listeners_no_access_logs_are_claimed(scaled: Evaluation) -> None:
    """Elastic Load Balancing, Network Load Balancers, "Access logs": "Access logs are created only if
    the load balancer has a TLS listener, and the logs contain information about TLS requests only."
    With TCP pass-through there is nothing AWS would write: logging stays off and the log bucket
    admits no load balancer writer (Envoy logs every request and association instead)."""
    assert {listener["protocol"] for listener in by_port(scaled, LISTENER).values()} == {"TCP"}
    assert scaled.one(LB).inputs["accessLogs"]["enabled"] is False
    policy = scaled.named("orthweb-storage-logs-policy")
    assert "LoadBalancerLogsWrite" not in {s["Sid"] for s in json.loads(policy.inputs["policy"])["Statement"]}


def test_no_deletion_protection_so_destroy_removes_it(scaled: Evaluation, scaled_prod: Evaluation) -> None:
    assert scaled.one(LB).inputs["enableDeletionProtection"] is False
    assert scaled_prod.one(LB).inputs["enableDeletionProtection"] is False


# --- listeners and target groups ------------------------------------------------------------------


def test_tcp_listeners_pass_tls_through_to_envoy(scaled: Evaluation) -> None:
    listeners, groups = by_port(scaled, LISTENER), by_port(scaled, TARGET_GROUP)
    assert set(listeners) == set(groups) == set(PORTS)
    for port in PORTS:
        assert listeners[port]["protocol"] == "TCP" and "sslPolicy" not in listeners[port]
        (action,) = listeners[port]["defaultActions"]
        target = next(tg for tg in scaled.of_type(TARGET_GROUP) if int(tg.inputs["port"]) == port)
        assert action == {"type": "forward", "targetGroupArn": target.state["arn"]}
        assert groups[port]["protocol"] == "TCP" and groups[port]["targetType"] == "instance"
        # A silent transfer outlives the listener's default 350 s idle timeout, as it does Envoy's.
        assert listeners[port]["tcpIdleTimeoutSeconds"] == TRANSFER_IDLE_TIMEOUT_SECONDS


def test_a_target_is_healthy_while_envoys_health_endpoint_answers_200(scaled: Evaluation) -> None:
    for inputs in by_port(scaled, TARGET_GROUP).values():
        check = inputs["healthCheck"]
        assert (check["protocol"], check["port"], check["path"], check["matcher"]) == (
            "HTTP",
            str(LB_HEALTH_PORT),
            LB_HEALTH_PATH,
            "200",
        )
        # NLB limits: interval 5-300 s, timeout 2-120 s (below the interval), thresholds 2-10.
        assert 5 <= check["interval"] <= 300 and 2 <= check["timeout"] < check["interval"]
        assert 2 <= check["healthyThreshold"] <= 10 and 2 <= check["unhealthyThreshold"] <= 10
        assert check["interval"] * check["unhealthyThreshold"] <= 30, "a dead host leaves rotation within 30 s"
        assert inputs["deregistrationDelay"] == DEREGISTRATION_DELAY_SECONDS >= 300
        assert inputs["preserveClientIp"] == "true"


def test_with_a_zone_the_load_balancer_serves_a_validated_public_certificate(public_tls: Evaluation) -> None:
    certificate = public_tls.one("aws:acm/certificate:Certificate")
    assert certificate.inputs["domainName"] == DOMAIN and certificate.inputs["validationMethod"] == "DNS"
    validation = public_tls.one("aws:acm/certificateValidation:CertificateValidation")
    records = {r.name: r.inputs for r in public_tls.of_type("aws:route53/record:Record")}
    check_record = records["orthweb-load-balancer-certificate-validation-record"]
    option = certificate.state["domainValidationOptions"][0]
    assert (check_record["zoneId"], check_record["name"], check_record["records"]) == (
        ZONE,
        option["resourceRecordName"],
        [option["resourceRecordValue"]],
    )
    assert validation.inputs["validationRecordFqdns"] == [option["resourceRecordName"].rstrip(".")]
    for port, listener in by_port(public_tls, LISTENER).items():
        assert listener["protocol"] == "TLS" and listener["sslPolicy"] == TLS_POLICY
        assert listener["certificateArn"] == certificate.state["arn"]
        assert by_port(public_tls, TARGET_GROUP)[port]["protocol"] == "TLS", "TLS again to Envoy"
    alias = records["orthweb-load-balancer-site-record"]
    nlb = public_tls.one(LB).state
    assert (alias["name"], alias["type"], alias["zoneId"]) == (DOMAIN, "A", ZONE)
    assert alias["aliases"][0]["name"] == nlb["dnsName"] and alias["aliases"][0]["zoneId"] == nlb["zoneId"]
    assert public_tls.outputs["site_address"] == DOMAIN
    assert validation.urn in public_tls.ancestors(public_tls.named("orthweb-load-balancer-listener-443").urn)


def test_the_tls_policy_refuses_anything_older_than_tls_1_2() -> None:
    assert TLS_POLICY.startswith("ELBSecurityPolicy-TLS13-1-2-")


# --- the security-group chain --------------------------------------------------------------------


def test_clients_reach_the_load_balancer_and_only_it_reaches_the_hosts(scaled: Evaluation) -> None:
    lb_sg, hosts_sg = scaled.named("orthweb-load-balancer-sg"), scaled.named("orthweb-group-sg")
    lb_in = rules(scaled, "orthweb-load-balancer-sg", INGRESS)
    assert sorted((r["fromPort"], r["cidrIpv4"]) for r in lb_in) == sorted(
        [(443, c) for c in scaled.config.web_allowed_cidrs] + [(11112, c) for c in scaled.config.dicom_allowed_cidrs]
    )
    lb_out = rules(scaled, "orthweb-load-balancer-sg", EGRESS)
    assert sorted(r["fromPort"] for r in lb_out) == sorted([*PORTS, LB_HEALTH_PORT])
    assert all(r["referencedSecurityGroupId"] == hosts_sg.id and "cidrIpv4" not in r for r in lb_out)
    hosts_in = rules(scaled, "orthweb-group-sg", INGRESS)
    assert sorted(r["fromPort"] for r in hosts_in) == sorted([*PORTS, LB_HEALTH_PORT])
    assert all(r["referencedSecurityGroupId"] == lb_sg.id and "cidrIpv4" not in r for r in hosts_in)
    hosts_out = sorted((r["fromPort"], r["cidrIpv4"]) for r in rules(scaled, "orthweb-group-sg", EGRESS))
    assert hosts_out == [(443, "0.0.0.0/0"), (5432, scaled.config.vpc_cidr)]
    (database_in,) = rules(scaled, "orthweb-database-sg", INGRESS)
    assert database_in["referencedSecurityGroupId"] == hosts_sg.id


# --- the launch template and the group -----------------------------------------------------------


def test_the_launch_template_locks_down_each_host(scaled: Evaluation) -> None:
    template = scaled.one(LAUNCH_TEMPLATE).inputs
    metadata = template["metadataOptions"]
    assert (metadata["httpTokens"], metadata["httpPutResponseHopLimit"]) == ("required", 2)
    (root,) = template["blockDeviceMappings"]
    key_arn = scaled.one("aws:kms/key:Key").state["arn"]
    assert root["ebs"]["encrypted"] == "true" and root["ebs"]["kmsKeyId"] == key_arn
    assert root["ebs"]["volumeSize"] == scaled.config.options.root_volume_gb
    profile = scaled.one("aws:iam/instanceProfile:InstanceProfile").state["name"]
    assert template["iamInstanceProfile"] == {"name": profile}
    (interface,) = template["networkInterfaces"]
    assert interface["securityGroups"] == [scaled.named("orthweb-group-sg").id]
    assert template["monitoring"] == {"enabled": True}
    tags = {spec["resourceType"]: spec["tags"]["orthweb:role"] for spec in template["tagSpecifications"]}
    assert tags == {"instance": "member", "volume": "member"}


def test_every_host_gets_the_same_cloud_init_as_a_failover_host(scaled: Evaluation) -> None:
    text = user_data_text(scaled.one(LAUNCH_TEMPLATE))
    document = yaml.safe_load(text)
    assert text.startswith("#cloud-config") and "member host" in text.splitlines()[1]
    paths = {entry["path"] for entry in document["write_files"]}
    assert paths == {"/etc/orthweb/deployment.json", "/opt/orthweb/bootstrap.sh"}
    files = host_files(scaled)["member"]
    assert {"envoy.yaml", "docker-compose.yml", "start.sh"} <= set(files), "the rest comes in the bundle"


def test_the_group_spans_both_zones_and_replaces_hosts_that_stop_serving(scaled: Evaluation) -> None:
    group = scaled.one(GROUP).inputs
    assert set(group["vpcZoneIdentifiers"]) == {scaled.named(f"orthweb-network-public-{s}").id for s in "ab"}
    assert (group["desiredCapacity"], group["minSize"], group["maxSize"]) == (2, 2, 4)
    assert group["healthCheckType"] == "ELB"
    assert group["healthCheckGracePeriod"] == FIRST_BOOT_GRACE_SECONDS >= 20 * 60, "covers a first boot"
    assert set(group["targetGroupArns"]) == {tg.state["arn"] for tg in scaled.of_type(TARGET_GROUP)}
    template = scaled.one(LAUNCH_TEMPLATE)
    assert group["launchTemplate"] == {"id": template.id, "version": str(template.state["latestVersion"])}
    assert template.inputs["updateDefaultVersion"] is True
    assert group["name"] == scaled.outputs["host_info"]["group"] == "orthweb-dev-hosts"


def test_a_new_launch_template_rolls_out_with_half_the_hosts_serving(scaled: Evaluation) -> None:
    refresh = scaled.one(GROUP).inputs["instanceRefresh"]
    assert refresh["strategy"] == "Rolling"
    preferences = refresh["preferences"]
    assert preferences["minHealthyPercentage"] >= 50 and preferences["maxHealthyPercentage"] == 100
    assert preferences["skipMatching"] is True
    assert not scaled.of_type("aws:autoscaling/policy:Policy"), "CPU tracking is off by default"


def test_cpu_tracking_owns_the_desired_size_when_configured(public_tls: Evaluation) -> None:
    policy = public_tls.one("aws:autoscaling/policy:Policy").inputs
    assert policy["policyType"] == "TargetTrackingScaling"
    tracking = policy["targetTrackingConfiguration"]
    assert tracking["targetValue"] == 60
    assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == "ASGAverageCPUUtilization"
    group = public_tls.one(GROUP).inputs
    assert (group["desiredCapacity"], group["minSize"], group["maxSize"]) == (3, 2, 6)


# --- outputs, certificate, policies ----------------------------------------------------------------


def test_outputs_name_the_site_the_group_and_the_fixed_addresses(scaled: Evaluation) -> None:
    outputs = scaled.outputs
    assert {"site_address", "host_info", "site_ips", "s3_bucket", "db_endpoint"} <= set(outputs)
    assert "site_ip" not in outputs, "there is no single site Elastic IP"
    assert outputs["site_address"] == scaled.one(LB).state["dnsName"]
    assert set(outputs["host_info"]) == {"group"}
    assert len(outputs["site_ips"]) == 2


def test_the_site_certificate_names_the_load_balancer_and_its_addresses(scaled: Evaluation) -> None:
    certificate = scaled.one("tls:index/selfSignedCert:SelfSignedCert").inputs
    assert scaled.one(LB).state["dnsName"] in certificate["dnsNames"]
    assert sorted(certificate["ipAddresses"]) == sorted(scaled.outputs["site_ips"])


def test_the_log_bucket_policy_with_the_load_balancer_passes_parliament(scaled: Evaluation) -> None:
    text = scaled.named("orthweb-storage-logs-policy").inputs["policy"]
    assert [(f.issue, f.detail) for f in analyze_policy_string(text).findings] == []


def test_the_failover_topology_has_none_of_it(dev: Evaluation) -> None:
    types = {r.type for r in dev.resources}
    assert not types & {LB, TARGET_GROUP, LISTENER, GROUP, LAUNCH_TEMPLATE}
    assert set(dev.outputs["host_info"]) == {"primary", "secondary"}
    assert dev.outputs["site_ips"] == [dev.outputs["site_ip"]]
