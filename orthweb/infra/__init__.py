"""The Pulumi program's parts: one ComponentResource per module, and the pure helpers only they use.

Runs inside `pulumi up` (and the offline evaluation). Never imports the operator tools
(`orthweb.ops`), the CLI, the benchmarks or the runtime harness.
"""
