"""Config keys of other namespaces, checked as `pulumi up` would check them.

Each provider refuses a key of its namespace it does not know, before anything is created: the
bridged providers (aws, tls) answer "`aws:regoin` is not a valid configuration key for the aws
provider. Did you mean `aws:region`?" (pulumi/pulumi-terraform-bridge pkg/tfbridge, CheckConfig and
its tests `invalid_config_value`, `levenshtein_correction`). The keys each provider knows are read
from its installed SDK (`pulumi_aws.config`, `pulumi_tls.config`); pulumi-random has none. The
`pulumi:` namespace is the engine's own. A key of a namespace nothing here reads is not an error
for the CLI, so it is a warning, unless its namespace reads as a misspelt one.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from orthweb.config.keys import KEY_NAMES
from orthweb.config.problems import Problem
from orthweb.config.validation import did_you_mean
from orthweb.shared.constants import PROJECT

# The providers this program uses, and the SDK package whose config getters name each one's keys.
PROVIDER_CONFIG_MODULES = {"aws": "pulumi_aws", "tls": "pulumi_tls", "random": None}
ENGINE_NAMESPACE = "pulumi"
_GETTER = re.compile(r"__config__\.get\w*\('([A-Za-z0-9]+)'\)")


@cache
def provider_keys(namespace: str) -> frozenset[str]:
    """The config keys the provider of `namespace` knows, as its SDK reads them."""
    package = PROVIDER_CONFIG_MODULES[namespace]
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or spec.origin is None:
        return frozenset()
    # Read, not imported: importing the AWS SDK takes seconds.
    getters = Path(spec.origin).parent / "config" / "vars.py"
    return frozenset(_GETTER.findall(getters.read_text(encoding="utf-8")))


def check_namespaces(values: Mapping[str, Any]) -> tuple[list[Problem], list[str]]:
    """Problems with keys a provider would refuse; warnings for keys nothing reads."""
    problems: list[Problem] = []
    warnings: list[str] = []
    known_namespaces = [PROJECT, ENGINE_NAMESPACE, *PROVIDER_CONFIG_MODULES]
    for full_key, value in values.items():
        namespace, _, name = full_key.partition(":")
        if namespace == PROJECT and name not in KEY_NAMES and (owner := _owner(name)):
            # `region: eu-west-1` under config: is orthweb:region; the provider's key is aws:region.
            problems.append(
                Problem(
                    name,
                    value,
                    f"{owner}:{name}: {name} is the {owner} provider's key",
                    example=value,
                    example_key=f"{owner}:{name}",
                )
            )
        if namespace in (PROJECT, ENGINE_NAMESPACE):
            continue
        if namespace in PROVIDER_CONFIG_MODULES:
            if name not in provider_keys(namespace):
                problems.append(_unknown_provider_key(namespace, name, value))
            continue
        owner = _owner(name)
        hint = f" (did you mean {owner}:{name}?)" if owner else did_you_mean(namespace, known_namespaces)
        if hint and namespace.lower() != PROJECT:
            problems.append(
                Problem(full_key, value, f"a known namespace: '{namespace}' is read by nothing in this stack{hint}")
            )
        elif not hint:
            warnings.append(
                f"config {full_key} is read by nothing in this stack (its namespaces: "
                f"{', '.join(f'{known}:' for known in known_namespaces)})"
            )
    return problems, warnings


def _owner(name: str) -> str:
    """The one provider that has a key `name`, or ""."""
    owners = [namespace for namespace in PROVIDER_CONFIG_MODULES if name in provider_keys(namespace)]
    return owners[0] if len(owners) == 1 else ""


def _unknown_provider_key(namespace: str, name: str, value: Any) -> Problem:
    close = did_you_mean(name, provider_keys(namespace))
    suggestion = close.removeprefix(" (did you mean '").removesuffix("'?)")
    allowed = f"a key the {namespace} provider knows: `pulumi up` stops on this one"
    if suggestion:
        return Problem(
            f"{namespace}:{name}",
            value,
            f"{allowed} (did you mean {namespace}:{suggestion}?)",
            example=value,
            example_key=f"{namespace}:{suggestion}",
        )
    return Problem(
        f"{namespace}:{name}",
        value,
        f"{allowed} (it knows {len(provider_keys(namespace))} keys, none close to '{name}')"
        if provider_keys(namespace)
        else f"{allowed} (it takes no config)",
    )
