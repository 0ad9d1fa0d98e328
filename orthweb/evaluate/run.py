"""Running `__main__.py` in-process under the mock engine, with config and HOME set for it."""

from __future__ import annotations

import asyncio
import json
import os
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

from orthweb.config import StackConfig, load_config
from orthweb.constants import PROJECT
from orthweb.evaluate.mocks import MockAccount, OfflineMocks
from orthweb.evaluate.model import Evaluation, Secret
from orthweb.evaluate.monitor import RecordingMonitor
from orthweb.evaluate.overrides import apply_overrides
from orthweb.evaluate.project_config import ProjectConfigError, StackValue, merge
from orthweb.evaluate.stack_file import read_stack_file
from orthweb.problems import ConfigError, qualified_key

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
    values, secret_keys = read_stack_file(root / f"Pulumi.{stack}.yaml")
    values = apply_overrides(values, overrides or {})
    secret_keys = secret_keys | {qualified_key(k) for k in secret_overrides}
    # What `pulumi up` would do first: apply Pulumi.yaml's declarations, or stop as the CLI stops.
    values = _as_the_cli_hands_it(root, stack, values, secret_keys)
    # Validate first, exactly as the program will: bad input never reaches the engine.
    config = load_config(values, stack=stack, secret_keys=secret_keys, home=home)

    region = str(values.get("aws:region") or DEFAULT_REGION)
    engine_config = {k: _engine_value(v) for k, v in values.items()}
    engine_config.setdefault("aws:region", region)
    monitor = RecordingMonitor(OfflineMocks(region, site_holder, account))
    return run_program(root, stack, config, engine_config, sorted(secret_keys), monitor, home)


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
    pulumi_mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)

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
    return Evaluation(stack=stack, config=config, resources=list(monitor.records), outputs=outputs)


def _as_the_cli_hands_it(root: Path, stack: str, values: dict[str, Any], secret_keys: frozenset[str]) -> dict[str, Any]:
    project = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))
    stack_values = {key: StackValue(value, secure=key in secret_keys) for key, value in values.items()}
    try:
        merged = merge(project, stack, stack_values)
    except ProjectConfigError as error:
        raise ConfigError.of("--stack", stack, f"what the Pulumi CLI accepts: {error}") from None
    return {key: value.value for key, value in merged.items()}


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
