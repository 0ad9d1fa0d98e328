"""The Pulumi program: one ComponentResource per module, the pure helpers only they use, and their
composition (`stack.build_stack`, with the serving hosts of either topology in `serving`).

Runs inside `pulumi up` (and the offline evaluation). Never imports the operator tools
(`orthweb.ops`), the offline evaluation or the CLI.
"""
