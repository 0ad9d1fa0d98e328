"""How the cost estimate treats each resource type the program creates (pure data, no Pulumi).

Every type is in exactly one of three tables:
- PRICED: a pricer in `orthweb.ops.cost` turns it into priced line items;
- USAGE_BASED: billed only by use (storage, requests, messages); listed as such, never totalled;
- FREE: no charge of its own (configuration of another resource, IAM, locally generated values).
A type in none of them becomes an unpriced line, so the estimate says "incomplete" instead of
silently counting a new billable resource as free. Adding a resource type to the program means
adding it here (tests/unit/test_cost_coverage.py runs every topology against these tables).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

EC2_INSTANCE: Final = "aws:ec2/instance:Instance"
EIP: Final = "aws:ec2/eip:Eip"
RDS_INSTANCE: Final = "aws:rds/instance:Instance"
VPC_ENDPOINT: Final = "aws:ec2/vpcEndpoint:VpcEndpoint"
KMS_KEY: Final = "aws:kms/key:Key"
SECRET: Final = "aws:secretsmanager/secret:Secret"
METRIC_ALARM: Final = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD: Final = "aws:cloudwatch/dashboard:Dashboard"
S3_BUCKET: Final = "aws:s3/bucket:Bucket"
HOST_BUNDLE: Final = "aws:s3/bucketObjectv2:BucketObjectv2"
FLOW_LOG: Final = "aws:ec2/flowLog:FlowLog"
LOG_GROUP: Final = "aws:cloudwatch/logGroup:LogGroup"
SNS_TOPIC: Final = "aws:sns/topic:Topic"
SNS_SUBSCRIPTION: Final = "aws:sns/topicSubscription:TopicSubscription"
ROUTE53_RECORD: Final = "aws:route53/record:Record"
USER_POOL: Final = "aws:cognito/userPool:UserPool"
USER_POOL_CLIENT: Final = "aws:cognito/userPoolClient:UserPoolClient"
# The scale-out topology: the load balancer, and the group launching hosts from a launch template.
LOAD_BALANCER: Final = "aws:lb/loadBalancer:LoadBalancer"
SCALING_GROUP: Final = "aws:autoscaling/group:Group"
SCALING_POLICY: Final = "aws:autoscaling/policy:Policy"
LAUNCH_TEMPLATE: Final = "aws:ec2/launchTemplate:LaunchTemplate"
# AWS Backup: the vault's recovery points are billed by the GB-month (cost.py states the rates).
BACKUP_VAULT: Final = "aws:backup/vault:Vault"
BUCKET_LIFECYCLE: Final = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
# CloudTrail bills its data events by the 100,000 (cost.py states the rate per stated volume).
TRAIL: Final = "aws:cloudtrail/trail:Trail"
# The function that copies the audit lines into the audit log group and the audit bucket: requests
# and GB-seconds, the lines ingested and stored a second time, a PUT and S3 storage per batch
# (cost.py states the rates per stated volume).
AUDIT_COPY_FUNCTION: Final = "aws:lambda/function:Function"
# Its dead-letter queue holds only batches it could not copy: SQS requests, in the free tier.
AUDIT_COPY_QUEUE: Final = "aws:sqs/queue:Queue"
# The Site-to-Site VPN to the hospital (hospitalNetwork): billed per connection-hour.
VPN_CONNECTION: Final = "aws:ec2/vpnConnection:VpnConnection"

# Priced from the resource's inputs (gateway endpoints are priced at zero by the endpoint pricer).
PRICED: Final = frozenset(
    {EC2_INSTANCE, EIP, RDS_INSTANCE, VPC_ENDPOINT, KMS_KEY, SECRET, METRIC_ALARM, DASHBOARD}
    # A user pool by its tier's monthly active users; an app client only if it grants client credentials.
    | {USER_POOL, USER_POOL_CLIENT}
    # The load balancer by the hour; the group's hosts at its desired size; tracking by its alarms.
    | {LOAD_BALANCER, SCALING_GROUP, SCALING_POLICY}
    # The VPN connection by the hour (its data transfer out by use).
    | {VPN_CONNECTION}
)

# type -> the usage-based line it adds: (item, unit, what is billed).
USAGE_BASED: Final[dict[str, tuple[str, str, str]]] = {
    S3_BUCKET: ("S3 storage and requests", "GB-month", "storage, requests and retrieval by use"),
    # Under 100 KB per host role (one object each, and the versions a change leaves for 30 days),
    # one GET per host boot, and the key used through an S3 Bucket Key: well under $0.01 a month.
    HOST_BUNDLE: (
        "S3 host bundles (each host's application files)",
        "GB-month",
        "a few objects under 100 KB each, read once per host boot: well under $0.01 a month",
    ),
    FLOW_LOG: ("VPC flow logs delivered to S3", "GB", "log delivery per GB, then S3 storage"),
    LOG_GROUP: (
        "CloudWatch Logs: container logs and the agent's metric events",
        "GB",
        "per GB ingested and per GB-month stored",
    ),
    SNS_TOPIC: ("SNS alarm notifications", "notification", "e-mail deliveries beyond the free tier"),
    SNS_SUBSCRIPTION: ("SNS alarm notifications", "notification", "e-mail deliveries beyond the free tier"),
    ROUTE53_RECORD: ("Route53 queries", "query", "queries of non-alias records (alias queries to AWS are free)"),
    BACKUP_VAULT: ("AWS Backup storage (continuous backups)", "GB-month", "recovery points by their size"),
    TRAIL: (
        "CloudTrail data events (the audit trail)",
        "event",
        "data events recorded, then S3 storage of the log files",
    ),
    AUDIT_COPY_FUNCTION: (
        "Lambda, CloudWatch Logs and S3: the audit lines copied into the audit log group and bucket",
        "GB",
        "Lambda requests and GB-seconds, the lines ingested and stored in the audit group, a PUT per batch",
    ),
    AUDIT_COPY_QUEUE: (
        "SQS: audit batches that could not be copied",
        "request",
        "requests beyond the free tier (a queue that stays empty costs nothing)",
    ),
}

FREE: Final = frozenset(
    {
        # Network plumbing: VPCs, subnets, route tables, internet gateways and security groups cost nothing.
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:ec2/keyPair:KeyPair",
        # The VPN's gateways, static routes and route propagation: billed through its connection.
        "aws:ec2/customerGateway:CustomerGateway",
        "aws:ec2/vpnGateway:VpnGateway",
        "aws:ec2/vpnConnectionRoute:VpnConnectionRoute",
        "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation",
        "aws:ec2/route:Route",
        # An endpoint's policy is part of the endpoint's price.
        "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy",
        # A launch template's hosts are billed through the group that launches them.
        LAUNCH_TEMPLATE,
        # IAM is free.
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:iam/serviceLinkedRole:ServiceLinkedRole",
        # Settings of a billed resource.
        "aws:kms/alias:Alias",
        "aws:rds/parameterGroup:ParameterGroup",
        "aws:rds/subnetGroup:SubnetGroup",
        BUCKET_LIFECYCLE,
        # A backup plan, what it selects and the vault's lock bill nothing themselves; an explicit
        # provider (the backup copy region's) is configuration of this program.
        "aws:backup/plan:Plan",
        "aws:backup/selection:Selection",
        "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
        "pulumi:providers:aws",
        "aws:s3/bucketLogging:BucketLogging",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        # Object Lock is free; the locked log files are billed as S3 storage.
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        # A subscription filter bills nothing itself; the function it invokes bills what it copies.
        # Nor does a function's permission to be invoked.
        "aws:lambda/permission:Permission",
        "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter",
        # S3 events to EventBridge's default bus are free.
        "aws:s3/bucketNotification:BucketNotification",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:secretsmanager/secretPolicy:SecretPolicy",
        "aws:sns/topicPolicy:TopicPolicy",
        # Public ACM certificates and their DNS validation are free; target groups and listeners
        # are part of the load balancer's price.
        "aws:acm/certificate:Certificate",
        "aws:acm/certificateValidation:CertificateValidation",
        "aws:lb/targetGroup:TargetGroup",
        "aws:lb/listener:Listener",
        # Generated on the machine that runs `pulumi up`.
        "random:index/randomPassword:RandomPassword",
        "random:index/randomString:RandomString",
        "tls:index/privateKey:PrivateKey",
        "tls:index/selfSignedCert:SelfSignedCert",
        "tls:index/certRequest:CertRequest",
        "tls:index/locallySignedCert:LocallySignedCert",
        # Parts of a Cognito user pool, billed through the pool's monthly active users.
        "aws:cognito/userPoolDomain:UserPoolDomain",
        "aws:cognito/userGroup:UserGroup",
        "aws:cognito/user:User",
        "aws:cognito/userInGroup:UserInGroup",
        "aws:cognito/resourceServer:ResourceServer",
        "aws:cognito/managedLoginBranding:ManagedLoginBranding",
    }
)


def unclassified(types: Iterable[str]) -> list[str]:
    """The resource types the estimate would not know how to bill, sorted."""
    known = PRICED | FREE | USAGE_BASED.keys()
    return sorted(set(types) - known)
