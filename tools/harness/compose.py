"""`docker compose ... up --force-recreate SERVICE` for the host scripts, against a running Stack.

The rendered start.sh replaces containers with docker compose. For a script run against the
harness, a `docker` command on its PATH hands each such call to the Stack over a Unix socket, and
the Stack does what compose would: stop the container, start it with the secret files installed
at that moment, and (`--wait`) wait until its healthcheck passes. Anything else is refused, so a
script calling docker in a way the harness does not emulate fails loudly.
"""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tools.harness.processes import LOOPBACK

if TYPE_CHECKING:
    from tools.harness.stack import Stack

SOCKET_ENV = "ORTHWEB_HARNESS_COMPOSE_SOCKET"
DEFAULT_WAIT_SECONDS = 60.0

# The `docker` the script finds first: one JSON line out, one JSON line back.
_SHIM = """\
import json, os, socket, sys
with socket.socket(socket.AF_UNIX) as connection:
    connection.connect(os.environ["{env}"])
    connection.sendall(json.dumps(sys.argv[1:]).encode() + b"\\n")
    answer = json.loads(connection.makefile().readline())
sys.stderr.write(answer["message"])
sys.exit(answer["code"])
"""


def compose_call(stack: Stack, argv: Sequence[str]) -> tuple[int, str]:
    """One `docker ...` call: (exit code, message for stderr)."""
    if not argv or argv[0] != "compose" or "up" not in argv:
        return 2, f"harness docker: not emulated: docker {' '.join(argv)}\n"
    options = list(argv[argv.index("up") + 1 :])
    service = options[-1]
    if "--force-recreate" not in options or service.startswith("-"):
        return 2, f"harness docker: only `up --force-recreate SERVICE` is emulated: {options}\n"
    wait = DEFAULT_WAIT_SECONDS
    if "--wait-timeout" in options:
        wait = float(options[options.index("--wait-timeout") + 1])
    if service == "envoy":
        # Compose returns once the container runs: whoever needs Envoy serving waits for it.
        stack.recreate_envoy(wait="--wait" in options)
        return 0, ""
    index = int(service.removeprefix("orthanc-"))
    if "--wait" not in options:
        stack.recreate_replica(index, None)  # compose returns once the container runs
        return 0, ""
    if stack.recreate_replica(index, wait):
        return 0, ""
    return 1, f"harness docker: {service} is not healthy after {wait:g}s\n"


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        stack: Stack = self.server.stack  # type: ignore[attr-defined]  # set by compose_shim
        argv = json.loads(self.rfile.readline())
        with self.server.lock:  # type: ignore[attr-defined]  # compose runs one call at a time
            code, message = compose_call(stack, argv)
        self.wfile.write(json.dumps({"code": code, "message": message}).encode() + b"\n")


@contextmanager
def compose_shim(stack: Stack, directory: Path) -> Iterator[dict[str, str]]:
    """Serve the Stack to scripts; yields the environment a script needs (PATH, admin URL, ...)."""
    directory.mkdir(parents=True, exist_ok=True)
    socket_path = directory / "compose.sock"
    socket_path.unlink(missing_ok=True)
    docker = directory / "docker"
    docker.write_text(f"#!{sys.executable} -IS\n{_SHIM.format(env=SOCKET_ENV)}")
    docker.chmod(0o755)
    server = socketserver.ThreadingUnixStreamServer(str(socket_path), _Handler)
    server.stack = stack  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="compose-shim", daemon=True)
    thread.start()
    try:
        yield {
            "PATH": os.pathsep.join((str(directory), str(Path(sys.executable).parent), os.environ.get("PATH", ""))),
            SOCKET_ENV: str(socket_path),
            # Test hooks of start.sh: Envoy's admin page and the drain directory of this Stack.
            "ORTHWEB_ENVOY_ADMIN_URL": f"http://{LOOPBACK}:{stack.envoy_admin_port}",
            "ORTHWEB_DRAIN_DIR": str(stack.drain_dir),
            "ORTHWEB_SECRETS_DIR": str(stack.secrets_dir),
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_start_script(stack: Stack, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The rendered start.sh with `args` (e.g. --rolling --envoy) against the Stack, through the shim."""
    app_dir = stack.work_dir / "start"
    app_dir.mkdir(exist_ok=True)
    script = app_dir / "start.sh"
    script.write_text(stack.rendered["start.sh"])
    script.chmod(0o700)
    with compose_shim(stack, stack.work_dir / "compose") as shim_env:
        return subprocess.run(
            ["bash", str(script), *args],
            env={**os.environ, **shim_env, "ORTHWEB_APP_DIR": str(app_dir)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
