"""The stack configuration, read and checked once, at `pulumi up` and in `plan`: the table of keys
(`keys`), their checks (`validation`, `topology`), the answer type (`problems`), and the frozen
`StackConfig` the program is built from (`stack_config`, the only reader of `pulumi.Config`)."""
