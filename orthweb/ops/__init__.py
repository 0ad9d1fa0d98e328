"""What an operator runs against a deployed stack: failover, verify and the cost estimate.

Talks to AWS with the operator's own credentials (boto3); never imported by the Pulumi program.
"""
