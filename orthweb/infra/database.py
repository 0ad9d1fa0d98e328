"""RDS PostgreSQL for the Orthanc index: private, encrypted, TLS only, password managed by RDS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra import policies
from orthweb.infra.durability import Durability
from orthweb.infra.firewall import FirewallArgs, Rule, firewall
from orthweb.infra.tags import describe, stack_tags
from orthweb.shared import telemetry
from orthweb.shared.constants import POSTGRES_PORT
from orthweb.shared.restore_point import RestorePoint, moment_text

DB_ENGINE = "postgres"
DB_STORAGE_TYPE = "gp3"
DATABASE_NAME = "orthanc"
MASTER_USERNAME = "orthanc"
LOG_EXPORTS = ("postgresql", "upgrade")
CA_CERTIFICATE = "rds-ca-rsa2048-g1"
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
    # Zones, backups, protection, and what `destroy` and a replacement do with it.
    durability: Durability
    log_retention_days: int
    # A restored stack's database: the source instance's data at that moment (RDS point-in-time
    # restore), encrypted with the source's key, which RDS keeps (`data_key_arn`).
    restore_from: RestorePoint | None = None
    data_key_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class _MonitoringRole:
    role: aws.iam.Role
    attachment: aws.iam.RolePolicyAttachment  # the role's permissions; RDS needs them before it starts


class Database(pulumi.ComponentResource):
    instance: aws.rds.Instance
    endpoint: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:Database", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        # A kept database keeps what AWS will not delete while it uses it.
        self._held = pulumi.ResourceOptions(parent=self, retain_on_delete=args.durability.keep_data)
        self._tags = stack_tags(args.stack)

        self.instance = self._create_instance(
            database_firewall=self._create_firewall(),
            subnets=self._create_subnet_group(),
            parameters=self._create_parameter_group(),
            log_groups=self._create_log_groups(),
            monitoring=self._create_monitoring_role(),
        )
        self.endpoint = self.instance.endpoint
        self.master_secret_arn = self.instance.master_user_secrets.apply(
            lambda secrets: secrets[0].secret_arn if secrets and secrets[0].secret_arn else ""
        )
        self.register_outputs({"endpoint": self.endpoint, "identifier": self.instance.identifier})

    def _create_firewall(self) -> aws.ec2.SecurityGroup:
        return firewall(
            f"{self._name}-sg",
            FirewallArgs(
                vpc_id=self._args.vpc_id,
                description="PostgreSQL from the orthweb hosts only",
                tags=self._tags,
                retain_on_delete=self._args.durability.keep_data,
                ingress=(
                    Rule(
                        "postgres",
                        "PostgreSQL from the hosts",
                        POSTGRES_PORT,
                        peer_security_group_id=self._args.client_security_group_id,
                    ),
                ),
            ),
            parent=self,
        )

    def _create_subnet_group(self) -> aws.rds.SubnetGroup:
        return aws.rds.SubnetGroup(
            f"{self._name}-subnets",
            description=describe(self._args.stack, "private subnets"),
            subnet_ids=self._args.subnet_ids,
            tags=self._tags,
            opts=self._held,
        )

    def _create_parameter_group(self) -> aws.rds.ParameterGroup:
        return aws.rds.ParameterGroup(
            f"{self._name}-parameters",
            family=f"postgres{self._args.engine_major}",
            description=describe(self._args.stack, "TLS only, no statement logging"),
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                # SQL statements carry patient names and IDs: never log them.
                aws.rds.ParameterGroupParameterArgs(name="log_statement", value="none"),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="-1"),
                aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_disconnections", value="1"),
            ],
            tags=self._tags,
            opts=self._held,
        )

    def _create_log_groups(self) -> list[aws.cloudwatch.LogGroup]:
        """RDS creates these on first log export; owning them gives retention, encryption and a
        clean `pulumi destroy`."""
        return [
            aws.cloudwatch.LogGroup(
                f"{self._name}-log-{export}",
                name=pulumi.Output.from_input(self._args.identifier).apply(
                    lambda identifier, export=export: telemetry.rds_log_group_name(identifier, export)
                ),
                # Exactly the configured days: the environment's default or the user's choice.
                retention_in_days=self._args.log_retention_days,
                kms_key_id=self._args.key_arn,
                tags=self._tags,
                opts=self._child,
            )
            for export in LOG_EXPORTS
        ]

    def _create_monitoring_role(self) -> _MonitoringRole:
        role = aws.iam.Role(
            f"{self._name}-monitoring-role",
            description=describe(self._args.stack, "RDS enhanced monitoring"),
            assume_role_policy=policies.to_json(policies.rds_monitoring_assume_role()),
            tags=self._tags,
            opts=self._child,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{self._name}-monitoring-policy",
            role=role.name,
            policy_arn=pulumi.Output.concat(
                "arn:",
                aws.get_partition_output().partition,
                ":iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
            ),
            opts=self._child,
        )
        return _MonitoringRole(role=role, attachment=attachment)

    def _create_instance(
        self,
        *,
        database_firewall: aws.ec2.SecurityGroup,
        subnets: aws.rds.SubnetGroup,
        parameters: aws.rds.ParameterGroup,
        log_groups: list[aws.cloudwatch.LogGroup],
        monitoring: _MonitoringRole,
    ) -> aws.rds.Instance:
        args, durability = self._args, self._args.durability
        return aws.rds.Instance(
            f"{self._name}-postgres",
            identifier=args.identifier,
            engine=DB_ENGINE,
            # Major only: AWS picks a current minor and upgrades it, so no retired minor can
            # break a later `pulumi up`.
            engine_version=str(args.engine_major),
            auto_minor_version_upgrade=True,
            # A new dbEngineVersion is a major upgrade in place (with the parameter group of its
            # family); RDS refuses one without this.
            allow_major_version_upgrade=True,
            instance_class=args.instance_class,
            allocated_storage=args.storage_gb,
            max_allocated_storage=args.max_storage_gb,
            storage_type=DB_STORAGE_TYPE,
            storage_encrypted=True,
            kms_key_id=args.data_key_arn or args.key_arn,
            restore_to_point_in_time=_point_in_time(args.restore_from),
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
            multi_az=durability.multi_az,
            deletion_protection=durability.deletion_protection,
            # A database kept on destroy also leaves its last state and its backups behind.
            skip_final_snapshot=not durability.keep_data,
            final_snapshot_identifier=pulumi.Output.concat(args.identifier, "-final") if durability.keep_data else None,
            delete_automated_backups=not durability.keep_data,
            backup_retention_period=durability.backup_retention_days,
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.key_arn,
            performance_insights_retention_period=7,
            monitoring_interval=MONITORING_INTERVAL_SECONDS,
            monitoring_role_arn=monitoring.role.arn,
            apply_immediately=durability.apply_database_changes_now,
            tags=self._tags,
            opts=self._instance_options(log_groups=log_groups, monitoring=monitoring),
        )

    def _instance_options(
        self, *, log_groups: list[aws.cloudwatch.LogGroup], monitoring: _MonitoringRole
    ) -> pulumi.ResourceOptions:
        kept = self._args.durability.keep_data
        # The log groups and the role's permissions exist before RDS first writes to them.
        # A replacement keeps the identifier, which two instances cannot share: a disposable
        # database is deleted first; a kept one never is, so AWS refuses the new one
        # (DBInstanceAlreadyExists) before the old is touched, and destroy leaves it.
        return pulumi.ResourceOptions(
            parent=self,
            depends_on=[*log_groups, monitoring.attachment],
            # A restored database is never deleted first: on a deployed stack RDS refuses its twin.
            delete_before_replace=not kept and self._args.restore_from is None,
            retain_on_delete=kept,
        )


def _point_in_time(restore_from: RestorePoint | None) -> aws.rds.InstanceRestoreToPointInTimeArgs | None:
    """RDS restores the source instance's automated backups to the moment into this new instance."""
    if restore_from is None:
        return None
    return aws.rds.InstanceRestoreToPointInTimeArgs(
        source_db_instance_identifier=restore_from.database, restore_time=moment_text(restore_from.moment)
    )
