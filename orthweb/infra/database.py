"""RDS PostgreSQL for the Orthanc index: private, encrypted, TLS only, password managed by RDS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.constants import POSTGRES_PORT
from orthweb.infra import policies
from orthweb.infra.firewall import FirewallArgs, Rule, firewall
from orthweb.infra.tags import describe, stack_tags

DATABASE_NAME = "orthanc"
MASTER_USERNAME = "orthanc"
LOG_EXPORTS = ("postgresql", "upgrade")
CA_CERTIFICATE = "rds-ca-rsa2048-g1"
# Database logs hold connections and errors, never SQL, so a year of them costs cents (audit).
MIN_LOG_RETENTION_DAYS = 365
# Enhanced monitoring: OS metrics (memory, swap, per-process CPU) each minute; billed as the few MB of logs it writes.
MONITORING_INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class DatabaseArgs:
    stack: str
    identifier: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    client_security_group_id: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    instance_class: str
    engine_major: int
    storage_gb: int
    max_storage_gb: int
    production: bool
    log_retention_days: int


class Database(pulumi.ComponentResource):
    instance: aws.rds.Instance
    endpoint: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = stack_tags(args.stack)

        database_firewall = firewall(
            f"{name}-sg",
            FirewallArgs(
                vpc_id=args.vpc_id,
                description="PostgreSQL from the orthweb hosts only",
                tags=tags,
                ingress=(
                    Rule(
                        "postgres",
                        "PostgreSQL from the hosts",
                        POSTGRES_PORT,
                        peer_security_group_id=args.client_security_group_id,
                    ),
                ),
            ),
            parent=self,
        )
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets",
            description=describe(args.stack, "private subnets"),
            subnet_ids=args.subnet_ids,
            tags=tags,
            opts=child,
        )
        parameters = aws.rds.ParameterGroup(
            f"{name}-parameters",
            family=f"postgres{args.engine_major}",
            description=describe(args.stack, "TLS only, no statement logging"),
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                # SQL statements carry patient names and IDs: never log them.
                aws.rds.ParameterGroupParameterArgs(name="log_statement", value="none"),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="-1"),
                aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_disconnections", value="1"),
            ],
            tags=tags,
            opts=child,
        )
        # RDS creates these on first log export; owning them gives retention, encryption and a
        # clean `pulumi destroy`.
        log_groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-log-{export}",
                name=pulumi.Output.concat("/aws/rds/instance/", args.identifier, f"/{export}"),
                retention_in_days=max(args.log_retention_days, MIN_LOG_RETENTION_DAYS),
                kms_key_id=args.key_arn,
                tags=tags,
                opts=child,
            )
            for export in LOG_EXPORTS
        ]
        monitoring_role = aws.iam.Role(
            f"{name}-monitoring-role",
            description=describe(args.stack, "RDS enhanced monitoring"),
            assume_role_policy=policies.to_json(policies.rds_monitoring_assume_role()),
            tags=tags,
            opts=child,
        )
        monitoring_policy = aws.iam.RolePolicyAttachment(
            f"{name}-monitoring-policy",
            role=monitoring_role.name,
            policy_arn=pulumi.Output.concat(
                "arn:",
                aws.get_partition_output().partition,
                ":iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
            ),
            opts=child,
        )
        self.instance = aws.rds.Instance(
            f"{name}-postgres",
            identifier=args.identifier,
            engine="postgres",
            # Major only: AWS picks a current minor and upgrades it, so no retired minor can
            # break a later `pulumi up`.
            engine_version=str(args.engine_major),
            auto_minor_version_upgrade=True,
            instance_class=args.instance_class,
            allocated_storage=args.storage_gb,
            max_allocated_storage=args.max_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.key_arn,
            db_name=DATABASE_NAME,
            username=MASTER_USERNAME,
            # RDS generates, stores (in Secrets Manager, under our key) and rotates the password:
            # it never passes through this program, its state or user data.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.key_arn,
            iam_database_authentication_enabled=True,
            ca_cert_identifier=CA_CERTIFICATE,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[database_firewall.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            multi_az=args.production,
            deletion_protection=args.production,
            skip_final_snapshot=not args.production,
            final_snapshot_identifier=pulumi.Output.concat(args.identifier, "-final") if args.production else None,
            delete_automated_backups=not args.production,
            backup_retention_period=30 if args.production else 7,
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.key_arn,
            performance_insights_retention_period=7,
            monitoring_interval=MONITORING_INTERVAL_SECONDS,
            monitoring_role_arn=monitoring_role.arn,
            apply_immediately=not args.production,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*log_groups, monitoring_policy]),
        )
        self.endpoint = self.instance.endpoint
        self.master_secret_arn = self.instance.master_user_secrets.apply(
            lambda secrets: secrets[0].secret_arn if secrets and secrets[0].secret_arn else ""
        )
        self.register_outputs({"endpoint": self.endpoint, "identifier": self.instance.identifier})
