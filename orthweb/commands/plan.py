"""`orthweb plan`: evaluate the stack offline and show what `pulumi up` would create."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from orthweb import redaction
from orthweb.commands.common import add_stack_arguments, evaluate_or_report
from orthweb.config import StackConfig
from orthweb.constants import DICOM_TLS_PORT, FAILOVER, HTTPS_PORT, SCALE_OUT
from orthweb.evaluate import Evaluation, redact
from orthweb.evaluate.ec2_types import recorded_types
from orthweb.evaluate.host_files import write_host_files
from orthweb.ops.cost import CostEstimate, estimate

# What `plan` prices when the stack names no region (the offline evaluation assumes it too).
DEFAULT_REGION = "us-east-1"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "plan",
        help="evaluate the stack offline: inventory, settings and outputs",
        description="Run the Pulumi program against the mock engine (no AWS account needed) and "
        "print what it would create.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also write each host's files (cloud-init, envoy.yaml, orthanc.json, ...) under DIR/<role>/",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    evaluation = evaluate_or_report(args)
    if evaluation is None:
        return 2
    for warning in evaluation.config.warnings:
        print(f"orthweb: warning: {warning}", file=sys.stderr)
    if args.out is not None:
        try:
            written = write_host_files(evaluation, args.out)
        except OSError as error:
            print(f"orthweb: cannot write under --out {args.out}: {error.strerror}", file=sys.stderr)
            return 2
        print(f"wrote {len(written)} host files under {args.out}/", file=sys.stderr)
    cost = _cost(evaluation)
    if args.json:
        document = evaluation.to_json()
        document["cost"] = cost.to_json()
        json.dump(redaction.scrub_document(document), sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_inventory(evaluation))
        sys.stdout.write("\nMonthly cost estimate\n")
        sys.stdout.write(cost.format_table() + "\n")
    return 0


def _cost(evaluation: Evaluation) -> CostEstimate:
    """Priced in the stack's region; items the price table lacks make the total "incomplete"."""
    return estimate(evaluation.resources, evaluation.config.region or DEFAULT_REGION)


def _settings(evaluation: Evaluation) -> list[tuple[str, str]]:
    cfg = evaluation.config
    options = cfg.options
    return [
        ("stack / environment", f"{evaluation.stack} / {cfg.environment}"),
        ("region", cfg.region or "from the AWS provider's default (offline: us-east-1)"),
        ("VPC", f"{cfg.vpc_cidr} over 2 AZs"),
        (f"HTTPS {HTTPS_PORT} from", ", ".join(cfg.web_allowed_cidrs)),
        (f"DICOM-TLS {DICOM_TLS_PORT} from", ", ".join(cfg.dicom_allowed_cidrs)),
        ("topology", _topology(cfg)),
        ("hosts", _hosts(cfg)),
        ("EC2 recovery", _recovery(evaluation)),
        ("Orthanc", f"{options.orthanc_replicas} replicas of {options.orthanc_image}"),
        ("Envoy", options.envoy_image),
        (
            "database",
            f"PostgreSQL {options.db_engine_version} on {options.db_instance_class}, "
            f"{'Multi-AZ' if cfg.durability.multi_az else 'single-AZ'}, {options.db_storage_gb} GB gp3",
        ),
        (
            "deletion protection",
            "on for the database (and a sign-in user pool), kept on destroy with the buckets"
            if cfg.durability.deletion_protection
            else "off (dev: destroy removes data)",
        ),
        ("SSH key", cfg.public_key_source if cfg.public_key else "none (Session Manager only)"),
        ("site certificate", "user-supplied" if cfg.site_certificate else "self-signed, generated"),
    ]


def _topology(cfg: StackConfig) -> str:
    if cfg.topology != SCALE_OUT:
        return f"{FAILOVER}: a primary serves, `orthweb failover` moves the Elastic IP to the secondary"
    tls = (
        f"TLS at the load balancer (ACM certificate for {cfg.site_domain}, Route53 zone {cfg.hosted_zone_id})"
        if cfg.hosted_zone_id
        else "TCP through to Envoy"
    )
    return f"{SCALE_OUT}: an Auto Scaling group behind a Network Load Balancer (2 fixed IPs), {tls}"


def _hosts(cfg: StackConfig) -> str:
    options = cfg.options
    if cfg.topology != SCALE_OUT:
        return f"2 x {options.instance_type}, secondary {cfg.secondary_state} at creation"
    group = options.group
    tracking = f", CPU target {group.cpu_target_percent}%" if group.cpu_target_percent else ""
    return f"{group.desired} x {options.instance_type} ({group.minimum} to {group.maximum}{tracking})"


def _recovery(evaluation: Evaluation) -> str:
    """What a failed system status check does, as the evaluated alarms say."""
    cfg = evaluation.config
    if cfg.topology == SCALE_OUT:
        return "none: the group replaces a host that stops serving"
    instance_type = cfg.options.instance_type
    actions = [
        action
        for alarm in evaluation.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if alarm.inputs.get("metricName") == "StatusCheckFailed_System"
        for action in alarm.inputs.get("alarmActions", [])
    ]
    if any(action.endswith(":ec2:recover") for action in actions):
        return f"EC2 recovers a host on failed hardware in place ({instance_type} supports it)"
    if instance_type not in recorded_types():
        return (
            f"decided by `pulumi up` from EC2's data for {instance_type} (not known offline): "
            "recovery where EC2 supports it, else the alarm only notifies"
        )
    return f"none: EC2 cannot recover {instance_type}; the alarm notifies (stop and start the host, or fail over)"


def format_inventory(evaluation: Evaluation) -> str:
    lines: list[str] = []
    custom = [r for r in evaluation.resources if r.custom]
    components = [r for r in evaluation.resources if not r.custom]
    lines.append(f"orthweb stack '{evaluation.stack}': {len(custom)} resources in {len(components)} components\n")
    lines.append("Settings")
    width = max(len(label) for label, _ in _settings(evaluation))
    lines.extend(f"  {label:<{width}}  {value}" for label, value in _settings(evaluation))
    lines.append("")
    lines.append("Resources by type")
    counts = Counter(r.type for r in custom)
    for token, count in sorted(counts.items()):
        lines.append(f"  {count:>3}  {token}")
    lines.append("")
    lines.append("Outputs (values computed offline are examples)")
    outputs = redact(evaluation.outputs)
    for name, value in outputs.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        lines.append(f"  {name}: {shown}")
    return "\n".join(lines) + "\n"
