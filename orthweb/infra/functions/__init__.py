"""Code the stack runs in AWS Lambda. Each module stands alone (the standard library and the boto3
that Lambda's Python runtime provides), because only that file is packaged."""
