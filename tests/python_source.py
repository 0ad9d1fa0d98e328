"""Parsing Python source in tests, safe from another thread's parse.

CPython 3.11 counts the AST constructor's recursion depth per interpreter, not per thread: while
another thread of the same process builds an AST (a server thread of the harness evaluating a
literal, say), `ast.parse` can fail with "SystemError: AST constructor recursion depth mismatch"
(seen once in a full run on 3.11.7). The parse itself is sound, so it is simply tried again.
"""

from __future__ import annotations

import ast

ATTEMPTS = 5


def parse(source: str) -> ast.Module:
    for attempt in range(ATTEMPTS):
        try:
            return ast.parse(source)
        except SystemError as error:
            if "recursion depth mismatch" not in str(error) or attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
