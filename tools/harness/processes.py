"""Start, poll and stop local server processes; every wait is bounded."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
LOG_TAIL_CHARS = 4000


class HarnessError(RuntimeError):
    """A server did not start, answer or stop in time; the message carries its log tail."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-chars:]


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    log: Path | None = None,
    alive: Callable[[], bool] | None = None,
) -> float:
    """Poll `predicate` until true; return seconds waited. Raise HarnessError with the log tail."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        with contextlib.suppress(Exception):
            if predicate():
                return time.monotonic() - start
        if alive is not None and not alive():
            raise HarnessError(f"{what}: process exited\n{log_tail(log) if log else ''}")
        if time.monotonic() >= deadline:
            raise HarnessError(f"{what}: not ready after {timeout:.0f}s\n{log_tail(log) if log else ''}")
        time.sleep(interval)


@dataclass
class ManagedProcess:
    """One child in its own process group, output to `log`; stop() kills the whole group."""

    name: str
    argv: Sequence[str]
    log: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> ManagedProcess:
        argv = list(self.argv)
        if self.user is not None:
            # setpriv keeps the PID (no extra parent) so the group kill reaches the server itself.
            argv = ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups", *argv]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise HarnessError(f"{self.name} was never started")
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, predicate: Callable[[], bool], timeout: float) -> float:
        return wait_until(predicate, timeout=timeout, what=self.name, log=self.log, alive=self.alive)

    def kill(self) -> None:
        """SIGKILL the group at once (a crash, as seen by its peers)."""
        self._signal_group(signal.SIGKILL)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM the group without waiting (to stop several servers in parallel)."""
        if self.alive():
            self._signal_group(signal.SIGTERM)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the group, SIGKILL it after `grace` seconds; idempotent."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=10)
        # Children that outlived the leader are still in its group.
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)


def run_checked(
    argv: Sequence[str], *, what: str, timeout: float = 60, user: str | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run a short command to completion; raise HarnessError with its output if it fails."""
    full = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *argv] if user else argv
    try:
        done = subprocess.run(
            list(full),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,  # type: ignore[arg-type]
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"{what}: timed out after {timeout}s") from exc
    if done.returncode != 0:
        raise HarnessError(f"{what}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done


def run_script(
    script: Path, args: Sequence[str], *, env: Mapping[str, str], timeout: float, name: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A host script under bash, as its unit runs it: its exit status and output, whatever they are."""
    try:
        return subprocess.run(
            ["bash", str(script), *args],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"{name or script.name} did not finish in {timeout:g}s") from exc
