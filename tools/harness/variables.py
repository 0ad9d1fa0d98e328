"""Compose's variable substitution (`${NAME}`, `${NAME:-default}`, `${NAME:?error}`), as `docker
compose` applies it to a compose file with the variables of its `.env`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from tools.harness.processes import HarnessError

_VARIABLE: Final = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """`text` with each variable replaced; a required one that is unset or empty is an error."""

    def value(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        found = variables.get(name)
        empty_counts = op is not None and op.startswith(":")
        missing = found is None or (empty_counts and found == "")
        if not missing:
            return str(found)
        if op is not None and op.endswith("?"):
            raise HarnessError(f"compose variable {name} is required: {arg or 'not set'}")
        return arg if op is not None else ""

    return _VARIABLE.sub(value, text)
