"""orthweb: a secure, highly available Orthanc on AWS (`pulumi up` runs this file)."""

import pulumi

from orthweb.config.problems import ConfigError
from orthweb.config.stack_config import from_pulumi
from orthweb.infra.stack import build_stack
from orthweb.shared.redaction import scrub

try:
    stack_config = from_pulumi()
except ConfigError as error:
    # One line, no traceback, and nothing has been created yet.
    raise pulumi.RunError(scrub(str(error))) from None

for warning in stack_config.warnings:
    pulumi.log.warn(scrub(warning))

for output_name, value in build_stack(stack_config).as_dict().items():
    pulumi.export(output_name, value)
