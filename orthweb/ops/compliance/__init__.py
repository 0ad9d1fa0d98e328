"""Compliance as code: checkov on the resource graph the program really builds.

`plan.terraform_plan(evaluation)` turns an offline evaluation into a Terraform plan JSON,
`scan.scan(evaluation)` runs checkov (its own virtualenv) on it and applies the reviewed
exceptions in skips.yaml. `python -m orthweb check` is the command; docs/compliance.md explains.
"""
