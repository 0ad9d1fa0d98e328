"""The scale-out topology as verify finds it: the Auto Scaling group (by its name), the hosts it has
in service, and the Network Load Balancer in front of them with each target group's health.

A failover stack has no group of that name, so `find_group` answers None and verify goes on with the
primary and secondary hosts.
"""

from __future__ import annotations

from typing import Any

from orthweb.ops.aws import OpsError, call_aws
from orthweb.ops.verify.model import CheckFailed, LoadBalancedGroup, TargetHealth
from orthweb.shared.constants import aws_name

# The group's name is fixed by the program (orthweb.infra.scaling_group).
GROUP_NAME_PART = "hosts"
LOCATE_HINT = "check --stack and --region; `pulumi stack output host_info` names the group"


def group_name(stack: str) -> str:
    return aws_name(stack, GROUP_NAME_PART)


def find_group(autoscaling: Any, elbv2: Any, stack: str) -> LoadBalancedGroup | None:
    """The stack's scaling group and load balancer, or None when the stack has no group."""
    name = group_name(stack)
    groups = _call(autoscaling, "describe_auto_scaling_groups", AutoScalingGroupNames=[name])
    if not groups.get("AutoScalingGroups"):
        return None
    group = groups["AutoScalingGroups"][0]
    in_service = tuple(
        sorted(i["InstanceId"] for i in group.get("Instances", []) if i.get("LifecycleState") == "InService")
    )
    target_group_arns = list(group.get("TargetGroupARNs", []))
    if not target_group_arns:
        raise CheckFailed(f"the Auto Scaling group {name} is attached to no target group", LOCATE_HINT)
    described = _call(elbv2, "describe_target_groups", TargetGroupArns=target_group_arns)["TargetGroups"]
    load_balancer_arns = sorted({arn for tg in described for arn in tg.get("LoadBalancerArns", [])})
    if len(load_balancer_arns) != 1:
        raise CheckFailed(
            f"the target groups of {name} belong to {len(load_balancer_arns)} load balancers, not one", LOCATE_HINT
        )
    load_balancer = _call(elbv2, "describe_load_balancers", LoadBalancerArns=load_balancer_arns)["LoadBalancers"][0]
    listeners = _call(elbv2, "describe_listeners", LoadBalancerArn=load_balancer_arns[0]).get("Listeners", [])
    return LoadBalancedGroup(
        name=name,
        in_service=in_service,
        load_balancer_name=str(load_balancer["LoadBalancerName"]),
        load_balancer_dns=str(load_balancer["DNSName"]),
        tls_at_load_balancer=any(listener.get("Protocol") == "TLS" for listener in listeners),
        targets=tuple(sorted((_target_health(elbv2, tg) for tg in described), key=lambda t: t.port)),
    )


def _target_health(elbv2: Any, target_group: dict[str, Any]) -> TargetHealth:
    found = _call(elbv2, "describe_target_health", TargetGroupArn=target_group["TargetGroupArn"])
    healthy: list[str] = []
    other: list[tuple[str, str]] = []
    for description in found.get("TargetHealthDescriptions", []):
        instance = str(description["Target"]["Id"])
        health = description.get("TargetHealth", {})
        if health.get("State") == "healthy":
            healthy.append(instance)
        else:
            reason = " ".join(str(health[k]) for k in ("State", "Reason") if health.get(k))
            other.append((instance, reason or "unknown"))
    return TargetHealth(int(target_group["Port"]), tuple(sorted(healthy)), tuple(sorted(other)))


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    try:
        return call_aws(client, operation, **kwargs)
    except OpsError as error:
        raise CheckFailed(str(error), "check --region and your AWS credentials") from None


def check_targets(group: LoadBalancedGroup) -> str:
    """`lb.targets`: every host in service is a healthy target of every target group."""
    if not group.in_service:
        raise CheckFailed(
            f"the Auto Scaling group {group.name} has no host in service",
            "see its activity history: `aws autoscaling describe-scaling-activities "
            f"--auto-scaling-group-name {group.name}`",
        )
    problems = []
    for target in group.targets:
        missing = sorted(set(group.in_service) - set(target.healthy))
        if missing:
            reasons = dict(target.other)
            problems.append(
                f"port {target.port}: " + ", ".join(f"{i} {reasons.get(i, 'not registered')}" for i in missing)
            )
    if problems:
        raise CheckFailed(
            "hosts in service that the load balancer does not send clients to: " + "; ".join(problems),
            "a target is healthy while Envoy's health endpoint answers 200, i.e. while one Orthanc replica on "
            "it is healthy: see host.envoy and host.containers for that host",
        )
    counts = ", ".join(f"{t.port}: {len(t.healthy)}/{len(group.in_service)} healthy" for t in group.targets)
    return f"{group.load_balancer_name} ({counts})"
