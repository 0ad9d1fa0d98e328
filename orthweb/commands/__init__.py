"""Sub-commands of `python -m orthweb`; each module has register(subparsers)."""
