"""Which Terraform resource type each Pulumi type token is, and how its inputs are renamed.

pulumi-aws, pulumi-random and pulumi-tls are bridged from the Terraform providers, but no package
ships the token -> type mapping, so it is kept here by hand. A type the program creates that is
missing from `TERRAFORM_TYPES` stops the conversion (tests/compliance checks every stack), so a new
resource can never slip past checkov unscanned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
RANDOM_PROVIDER = "registry.terraform.io/hashicorp/random"
TLS_PROVIDER = "registry.terraform.io/hashicorp/tls"

# Blocks Pulumi names in the plural (a Terraform block that may repeat becomes a list input).
LIFECYCLE_RULES = {
    "rules": "rule",
    "transitions": "transition",
    "noncurrentVersionTransitions": "noncurrent_version_transition",
}


@dataclass(frozen=True)
class TerraformType:
    name: str
    provider: str = AWS_PROVIDER
    # Pulumi input name (at any depth in this resource) -> Terraform attribute/block name, for
    # names that are not simply the snake_case of the Pulumi name.
    renames: dict[str, str] = field(default_factory=dict)


TERRAFORM_TYPES: dict[str, TerraformType] = {
    "aws:cloudwatch/dashboard:Dashboard": TerraformType("aws_cloudwatch_dashboard"),
    "aws:cloudwatch/logGroup:LogGroup": TerraformType("aws_cloudwatch_log_group"),
    "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter": TerraformType(
        "aws_cloudwatch_log_subscription_filter"
    ),
    # The function that copies audit lines into the audit log group, its dead-letter queue, and the
    # log groups' permission to invoke it.
    "aws:lambda/function:Function": TerraformType("aws_lambda_function"),
    "aws:lambda/permission:Permission": TerraformType("aws_lambda_permission"),
    "aws:sqs/queue:Queue": TerraformType("aws_sqs_queue"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": TerraformType(
        "aws_cloudwatch_metric_alarm", renames={"metricQueries": "metric_query"}
    ),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": TerraformType("aws_default_security_group"),
    "aws:ec2/eip:Eip": TerraformType("aws_eip"),
    "aws:ec2/flowLog:FlowLog": TerraformType("aws_flow_log"),
    "aws:ec2/instance:Instance": TerraformType(
        "aws_instance",
        renames={
            "ebsBlockDevices": "ebs_block_device",
            "ephemeralBlockDevices": "ephemeral_block_device",
            "networkInterfaces": "network_interface",
        },
    ),
    "aws:ec2/internetGateway:InternetGateway": TerraformType("aws_internet_gateway"),
    "aws:ec2/keyPair:KeyPair": TerraformType("aws_key_pair"),
    "aws:ec2/routeTable:RouteTable": TerraformType("aws_route_table", renames={"routes": "route"}),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": TerraformType("aws_route_table_association"),
    "aws:ec2/securityGroup:SecurityGroup": TerraformType("aws_security_group"),
    "aws:ec2/subnet:Subnet": TerraformType("aws_subnet"),
    "aws:ec2/vpc:Vpc": TerraformType("aws_vpc"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": TerraformType("aws_vpc_endpoint"),
    "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy": TerraformType("aws_vpc_endpoint_policy"),
    # The hospital's Site-to-Site VPN (hospitalNetwork) and the failover site's gateway route.
    "aws:ec2/customerGateway:CustomerGateway": TerraformType("aws_customer_gateway"),
    "aws:ec2/vpnGateway:VpnGateway": TerraformType("aws_vpn_gateway"),
    "aws:ec2/vpnConnection:VpnConnection": TerraformType("aws_vpn_connection"),
    "aws:ec2/vpnConnectionRoute:VpnConnectionRoute": TerraformType("aws_vpn_connection_route"),
    "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation": TerraformType("aws_vpn_gateway_route_propagation"),
    "aws:ec2/route:Route": TerraformType("aws_route"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": TerraformType("aws_vpc_security_group_ingress_rule"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": TerraformType("aws_vpc_security_group_egress_rule"),
    "aws:iam/instanceProfile:InstanceProfile": TerraformType("aws_iam_instance_profile"),
    "aws:iam/role:Role": TerraformType("aws_iam_role", renames={"inlinePolicies": "inline_policy"}),
    "aws:iam/rolePolicy:RolePolicy": TerraformType("aws_iam_role_policy"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": TerraformType("aws_iam_role_policy_attachment"),
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": TerraformType("aws_iam_service_linked_role"),
    "aws:kms/alias:Alias": TerraformType("aws_kms_alias"),
    "aws:kms/key:Key": TerraformType("aws_kms_key"),
    "aws:rds/instance:Instance": TerraformType("aws_db_instance"),
    "aws:rds/parameterGroup:ParameterGroup": TerraformType(
        "aws_db_parameter_group", renames={"parameters": "parameter"}
    ),
    "aws:rds/subnetGroup:SubnetGroup": TerraformType("aws_db_subnet_group"),
    "aws:s3/bucket:Bucket": TerraformType("aws_s3_bucket"),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": TerraformType(
        "aws_s3_bucket_lifecycle_configuration", renames=LIFECYCLE_RULES
    ),
    "aws:s3/bucketLogging:BucketLogging": TerraformType("aws_s3_bucket_logging"),
    "aws:s3/bucketNotification:BucketNotification": TerraformType(
        "aws_s3_bucket_notification",
        renames={"lambdaFunctions": "lambda_function", "queues": "queue", "topics": "topic"},
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": TerraformType("aws_s3_bucket_ownership_controls"),
    "aws:s3/bucketPolicy:BucketPolicy": TerraformType("aws_s3_bucket_policy"),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": TerraformType("aws_s3_bucket_public_access_block"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": TerraformType(
        "aws_s3_bucket_server_side_encryption_configuration", renames={"rules": "rule"}
    ),
    "aws:s3/bucketVersioning:BucketVersioning": TerraformType("aws_s3_bucket_versioning"),
    "aws:s3/bucketObjectv2:BucketObjectv2": TerraformType("aws_s3_object"),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": TerraformType(
        "aws_s3_bucket_object_lock_configuration"
    ),
    "aws:cloudtrail/trail:Trail": TerraformType(
        "aws_cloudtrail",
        renames={
            "advancedEventSelectors": "advanced_event_selector",
            "fieldSelectors": "field_selector",
            "startsWiths": "starts_with",
        },
    ),
    "aws:secretsmanager/secret:Secret": TerraformType("aws_secretsmanager_secret"),
    "aws:secretsmanager/secretVersion:SecretVersion": TerraformType("aws_secretsmanager_secret_version"),
    "aws:secretsmanager/secretPolicy:SecretPolicy": TerraformType("aws_secretsmanager_secret_policy"),
    "aws:sns/topic:Topic": TerraformType("aws_sns_topic"),
    "aws:sns/topicPolicy:TopicPolicy": TerraformType("aws_sns_topic_policy"),
    "aws:sns/topicSubscription:TopicSubscription": TerraformType("aws_sns_topic_subscription"),
    "aws:ssm/parameter:Parameter": TerraformType("aws_ssm_parameter"),
    "random:index/randomPassword:RandomPassword": TerraformType("random_password", RANDOM_PROVIDER),
    "random:index/randomString:RandomString": TerraformType("random_string", RANDOM_PROVIDER),
    "tls:index/privateKey:PrivateKey": TerraformType("tls_private_key", TLS_PROVIDER),
    "tls:index/selfSignedCert:SelfSignedCert": TerraformType("tls_self_signed_cert", TLS_PROVIDER),
    "tls:index/certRequest:CertRequest": TerraformType("tls_cert_request", TLS_PROVIDER),
    "tls:index/locallySignedCert:LocallySignedCert": TerraformType("tls_locally_signed_cert", TLS_PROVIDER),
    # The scale-out topology: load balancer, its certificate and records, and the scaling group.
    "aws:lb/loadBalancer:LoadBalancer": TerraformType("aws_lb", renames={"subnetMappings": "subnet_mapping"}),
    "aws:lb/targetGroup:TargetGroup": TerraformType("aws_lb_target_group"),
    "aws:lb/listener:Listener": TerraformType("aws_lb_listener", renames={"defaultActions": "default_action"}),
    "aws:acm/certificate:Certificate": TerraformType("aws_acm_certificate"),
    "aws:acm/certificateValidation:CertificateValidation": TerraformType("aws_acm_certificate_validation"),
    "aws:route53/record:Record": TerraformType("aws_route53_record", renames={"aliases": "alias"}),
    "aws:ec2/launchTemplate:LaunchTemplate": TerraformType("aws_launch_template"),
    "aws:autoscaling/group:Group": TerraformType(
        "aws_autoscaling_group", renames={"tags": "tag", "vpcZoneIdentifiers": "vpc_zone_identifier"}
    ),
    "aws:autoscaling/policy:Policy": TerraformType("aws_autoscaling_policy"),
    "aws:backup/plan:Plan": TerraformType("aws_backup_plan", renames={"rules": "rule", "copyActions": "copy_action"}),
    "aws:backup/selection:Selection": TerraformType("aws_backup_selection"),
    "aws:backup/vault:Vault": TerraformType("aws_backup_vault"),
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": TerraformType("aws_backup_vault_lock_configuration"),
    # Sign-in (`authentication: sso`): the Cognito user pool, its roles, clients and domain.
    "aws:cognito/userPool:UserPool": TerraformType(
        "aws_cognito_user_pool", renames={"recoveryMechanisms": "recovery_mechanism", "schemas": "schema"}
    ),
    "aws:cognito/userPoolClient:UserPoolClient": TerraformType("aws_cognito_user_pool_client"),
    "aws:cognito/userPoolDomain:UserPoolDomain": TerraformType("aws_cognito_user_pool_domain"),
    "aws:cognito/userGroup:UserGroup": TerraformType("aws_cognito_user_group"),
    "aws:cognito/user:User": TerraformType("aws_cognito_user"),
    "aws:cognito/userInGroup:UserInGroup": TerraformType("aws_cognito_user_in_group"),
    "aws:cognito/resourceServer:ResourceServer": TerraformType(
        "aws_cognito_resource_server", renames={"scopes": "scope"}
    ),
    "aws:cognito/managedLoginBranding:ManagedLoginBranding": TerraformType(
        "aws_cognito_managed_login_branding", renames={"assets": "asset"}
    ),
}

# Types deliberately left out of the plan, with the reason (none today; components are not
# resources and are skipped by `is_component`).
EXCLUDED_TYPES: dict[str, str] = {}

# Inputs that are Terraform maps (stay objects); every other object input is a nested block,
# which Terraform's plan shows as a one-element list.
MAP_ATTRIBUTES = frozenset({"tags", "tagsAll"})


class UnmappedTypeError(LookupError):
    """The program creates a resource type the table above does not know."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        super().__init__(
            "no Terraform type known for "
            + ", ".join(tokens)
            + ": add it to TERRAFORM_TYPES (or EXCLUDED_TYPES with a reason) in orthweb/ops/compliance/types.py"
        )


def is_component(token: str) -> bool:
    """Our components and Pulumi's own providers: nothing Terraform would plan."""
    return token.startswith("orthweb:") or token.startswith("pulumi:")


def terraform_type(token: str) -> TerraformType | None:
    """The Terraform type for `token`; None for excluded types; UnmappedTypeError otherwise."""
    if token in EXCLUDED_TYPES:
        return None
    found = TERRAFORM_TYPES.get(token)
    if found is None:
        raise UnmappedTypeError([token])
    return found
