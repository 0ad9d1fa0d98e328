"""Run the real Pulumi program in-process against Pulumi's mock engine and record what it builds.

No Pulumi CLI, provider plugin or AWS account is needed: the mock engine answers every resource
registration and data-source call with plausible fabricated values, and a recording monitor keeps
each resource's type, name, parent, inputs (secrets still marked), dependencies and the stack
exports. Tests, `plan`, `check` and `bench` all use this.

    model.py           Evaluation, RecordedResource, Secret and plain/redact/secrets_in
    mocks.py           OfflineMocks: one small function per data source and resource type
    monitor.py         RecordingMonitor: the mock monitor that records each registration
    stack_file.py      read_stack_file: a Pulumi.<stack>.yaml as the engine would read it
    project_config.py  the Pulumi CLI's rules for Pulumi.yaml's `config:` block, for the tests
    run.py             evaluate: validate the config, then run __main__.py under the mocks
    host_files.py      the files each host gets, read back from the recorded user data and bundle
"""

from orthweb.evaluate.model import Evaluation, RecordedResource, Secret, plain, redact, secrets_in
from orthweb.evaluate.run import DEFAULT_REGION, PROJECT_ROOT, evaluate

__all__ = [
    "DEFAULT_REGION",
    "PROJECT_ROOT",
    "Evaluation",
    "RecordedResource",
    "Secret",
    "evaluate",
    "plain",
    "redact",
    "secrets_in",
]
