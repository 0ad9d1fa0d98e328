"""Who administers the stack's data: the IAM roles and users the DICOM bucket policy admits."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def admin_principal_arns(configured: tuple[str, ...]) -> pulumi.Output[list[str]]:
    """The configured admins; with none configured, the identity that runs `pulumi up`.

    The deployer is named by its session's issuer: the role's ARN with its path (IAM Identity
    Center roles live under aws-reserved/sso.amazonaws.com/...), which is what aws:PrincipalArn
    holds. Rebuilding the role from the STS session ARN loses the path and locks the deployer out.
    """
    if configured:
        return pulumi.Output.from_input(list(configured))
    caller = aws.get_caller_identity_output()
    issuer = aws.iam.get_session_context_output(arn=caller.arn).issuer_arn
    return issuer.apply(lambda arn: [arn])
