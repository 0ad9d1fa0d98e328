"""Running `__main__.py` in-process under the mock engine, with config and HOME set for it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import runpy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from orthweb.config.keys import BY_NAME
from orthweb.config.problems import ConfigError, Problem, qualified_key
from orthweb.config.stack_config import StackConfig, load_config
from orthweb.evaluate.mocks import MockAccount, OfflineMocks
from orthweb.evaluate.model import Evaluation, Secret
from orthweb.evaluate.monitor import RecordingMonitor
from orthweb.evaluate.overrides import apply_each
from orthweb.evaluate.project_config import ProjectConfigError, StackFailure, StackValue, engine_value, merge
from orthweb.evaluate.provider_config import check_namespaces
from orthweb.evaluate.stack_file import load_stack_file
from orthweb.shared.constants import PROJECT

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The region an evaluation assumes when the stack file sets no `aws:region`.
DEFAULT_REGION = "us-east-1"


def evaluate(
    stack: str = "dev",
    overrides: Mapping[str, Any] | None = None,
    *,
    project_dir: Path | None = None,
    home: Path | None = None,
    secret_overrides: Iterable[str] = (),
    site_holder: str | None = None,
    account: MockAccount | None = None,
) -> Evaluation:
    """Evaluate `__main__.py` for `stack`; ConfigError for invalid config (nothing is run)."""
    root = project_dir or PROJECT_ROOT
    config, values, secret_keys = checked_config(root, stack, overrides or {}, secret_overrides, home)
    region = str(values.get("aws:region") or DEFAULT_REGION)
    engine_config = {k: _engine_value(v) for k, v in values.items()}
    engine_config.setdefault("aws:region", region)
    monitor = RecordingMonitor(OfflineMocks(region, site_holder, account))
    return run_program(root, stack, config, engine_config, sorted(secret_keys), monitor, home)


def checked_config(
    root: Path, stack: str, overrides: Mapping[str, Any], secret_overrides: Iterable[str], home: Path | None
) -> tuple[StackConfig, dict[str, Any], frozenset[str]]:
    """The stack's config as `pulumi up` would get it, checked as the program checks it; every
    problem of the stack file, the overrides, the CLI's rules and the program's in one ConfigError,
    each naming where its value came from."""
    stack_file = load_stack_file(root / f"Pulumi.{stack}.yaml")
    applied = apply_each(stack_file.values, overrides)
    sources = {**stack_file.sources, **applied.sources}
    secret_keys = stack_file.secret_keys | {qualified_key(k) for k in secret_overrides}
    # What `pulumi up` does first: apply Pulumi.yaml's declarations, or stop as the CLI stops.
    values, refused = _as_the_cli_hands_it(root, stack, applied.values, secret_keys)
    foreign, unread = check_namespaces(values)
    problems = [*stack_file.problems, *applied.problems, *refused, *foreign]
    named = {problem.key.removeprefix(f"{PROJECT}:") for problem in problems}
    config: StackConfig | None = None
    try:
        # Validate first, exactly as the program will: bad input never reaches the engine.
        config = load_config(values, stack=stack, secret_keys=secret_keys, home=home)
    except ConfigError as error:
        problems += [problem for problem in error.problems if problem.key not in named]
    if problems or config is None:
        raise ConfigError(*problems).with_sources(source_finder(sources))
    encrypted = [
        f"{where}: {key} is encrypted, which plan cannot decrypt offline: it evaluates the key's default "
        f"(`pulumi up` uses the real value; `--set {key.removeprefix(PROJECT + ':')}=...` plans with one)"
        for key, where in stack_file.encrypted.items()
        if key not in applied.values
    ]
    warnings = (*encrypted, *stack_file.warnings, *unread, *config.warnings)
    return dataclasses.replace(config, warnings=tuple(dict.fromkeys(warnings))), values, secret_keys


def source_finder(sources: Mapping[str, str]) -> Any:
    """Where a problem's key came from: the key itself, else the nearest enclosing key that has a place."""

    def find(key: str) -> str:
        key = key.removeprefix(f"{PROJECT}:")
        while key:
            if key in sources:
                return sources[key]
            shorter = re.sub(r"(\[\d+\]|\.[^.\[]*)$", "", key)
            key = "" if shorter == key else shorter
        return ""

    return find


def run_program(
    root: Path,
    stack: str,
    config: StackConfig,
    engine_config: dict[str, str],
    secret_keys: list[str],
    monitor: RecordingMonitor,
    home: Path | None,
) -> Evaluation:
    """Run `root/__main__.py` as the engine would, with `engine_config` as its stack config."""
    settings.set_root_resource(None)  # type: ignore[arg-type]  # a fresh stack per evaluation
    runtime_config.set_all_config(engine_config, secret_keys)
    engine_log = _EngineLog()
    pulumi_mocks.set_mocks(
        monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, logger=engine_log.logger
    )

    program = root / "__main__.py"
    previous_home = _set_home(home)
    try:

        def run_main() -> None:
            runpy.run_path(str(program), run_name="__main__")

        _sync_await(run_pulumi_func(run_main))
        outputs = _sync_await(_resolve_outputs())
    except BaseException:
        _forget_failed_run()
        raise
    finally:
        _set_home(previous_home)
    return Evaluation(
        stack=stack,
        config=config,
        resources=list(monitor.records),
        outputs=outputs,
        logged_warnings=tuple(engine_log.warnings),
    )


class _EngineLog(logging.Handler):
    """What the program logs through the engine, kept for the caller instead of printed (the
    commands print each warning once, with the config's)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.warnings: list[str] = []
        # Not attached to the logging tree: nothing it receives reaches another handler.
        self.logger = logging.Logger("orthweb-engine")
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.warnings.append(record.getMessage())


def _as_the_cli_hands_it(
    root: Path, stack: str, values: dict[str, Any], secret_keys: frozenset[str]
) -> tuple[dict[str, Any], list[Problem]]:
    """The values after Pulumi.yaml's declarations, and a Problem for each value the CLI refuses
    (left out, so the rest is still checked: every problem of a run is reported at once)."""
    project = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))
    declared = project.get("config") or {}
    stack_values = {
        key: StackValue(_as_stored(key, value, declared), secure=key in secret_keys) for key, value in values.items()
    }
    try:
        merged = merge(project, stack, stack_values)
        return {key: value.value for key, value in merged.items()}, []
    except ProjectConfigError as error:
        if not error.failures:
            raise ConfigError.of("--stack", stack, f"what the Pulumi CLI accepts: {error}") from None
        refused = {qualified_key(failure.key) for failure in error.failures}
        kept = {key: value for key, value in stack_values.items() if key not in refused}
        merged = merge(project, stack, kept)
        problems = [_refused(failure, values.get(qualified_key(failure.key))) for failure in error.failures]
        return {key: value.value for key, value in merged.items()}, problems


def _as_stored(key: str, value: Any, declared: Mapping[str, Any]) -> Any:
    """`pulumi config set` stores a scalar as text: a number given for a string key is its text."""
    entry = declared.get(key.removeprefix(f"{PROJECT}:"))
    if isinstance(entry, dict) and entry.get("type") == "string" and isinstance(value, int | float | bool):
        return engine_value(value)
    return value


# What each type Pulumi.yaml can declare means to a user.
_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "boolean": "true or false",
    "array<string>": "a list of text values",
}


def _refused(failure: StackFailure, value: Any) -> Problem:
    """A value the CLI refuses, said as what is wanted, with an example of the whole key."""
    row = BY_NAME.get(failure.key)
    if not failure.wanted:
        return Problem(failure.key, "[not shown]", f"encrypted: set it with `pulumi config set --secret {failure.key}`")
    example = row.example if row is not None else None
    if failure.wanted.startswith("array") and isinstance(value, str) and value.strip():
        # The user's own value as the list they meant ("a@x, b@y" is two items).
        example = [item.strip() for item in value.split(",") if item.strip()]
    elif example is None and row is not None and row.default not in ("", None):
        example = row.default
    return Problem(
        failure.key,
        value,
        f"{_TYPE_WORDS.get(failure.wanted, failure.wanted)} (Pulumi.yaml declares {failure.wanted}: the Pulumi CLI "
        "refuses any other value)",
        example=example,
    )


def _forget_failed_run() -> None:
    # A failed program leaves its pending outputs and its error in the runtime's shared settings,
    # which set_mocks does not reset: the next evaluation in this process would await them and
    # fail with the same error.
    loop = asyncio.get_event_loop()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    shared: Any = settings.SETTINGS  # its context properties are untyped
    with shared.lock:
        shared.outputs.clear()
    settings._get_rpc_manager().clear()


def _engine_value(value: Any) -> str:
    # The engine hands every config value to the program as a string; objects as JSON.
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _set_home(home: Path | None) -> Path | None:
    """The program resolves `~/.ssh/id_rsa.pub`; tests point HOME elsewhere for isolation."""
    previous = os.environ.get("HOME")
    if home is not None:
        os.environ["HOME"] = str(home)
    return Path(previous) if previous else None


async def _resolve_outputs() -> dict[str, Any]:
    root = settings.get_root_resource()
    exported: dict[str, Any] = getattr(root, "outputs", {}) or {}
    resolved: dict[str, Any] = {}
    for name, value in exported.items():
        output = pulumi.Output.from_input(value)
        plain_value = await output.future()
        is_secret = await output.is_secret()
        resolved[name] = Secret(plain_value) if is_secret else plain_value
    return resolved
