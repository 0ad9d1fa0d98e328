"""Development tools kept out of the installed package: the runtime harness (`tools.harness`)
that runs the rendered host files on 127.0.0.1 for the tests, and the benchmarks (`tools.bench`)."""
