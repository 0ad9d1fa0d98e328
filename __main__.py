"""orthweb: a secure, highly available Orthanc on AWS (`pulumi up` runs this file)."""

import pulumi

from orthweb.config import from_pulumi
from orthweb.problems import ConfigError
from orthweb.redaction import scrub
from orthweb.stack import build_stack

try:
    stack_config = from_pulumi()
except ConfigError as error:
    # One line, no traceback, and nothing has been created yet.
    raise pulumi.RunError(scrub(str(error))) from None

for warning in stack_config.warnings:
    pulumi.log.warn(scrub(warning))

for output_name, value in build_stack(stack_config).as_dict().items():
    pulumi.export(output_name, value)
