"""A private PostgreSQL cluster on 127.0.0.1 that, like RDS with rds.force_ssl=1, refuses plain TCP."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tools.harness.pki import make_ca_and_server
from tools.harness.processes import LOOPBACK, HarnessError, log_tail, run_checked, wait_until

PG_USER = "postgres"  # PostgreSQL refuses to run as root
START_TIMEOUT = 60.0


def _pg_bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if not candidates:
        raise HarnessError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return candidates[0].parent


@dataclass
class PostgresServer:
    """initdb/pg_ctl cluster in `directory`; an application database and login over TLS only."""

    directory: Path
    port: int
    database: str
    username: str
    password: str

    def __post_init__(self) -> None:
        self.bindir = _pg_bindir()
        self.data = self.directory / "data"
        self.socket_dir = self.directory / "socket"
        self.log = self.directory / "postgres.log"
        self.ca_cert: Path | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> PostgresServer:
        if not self.data.exists():
            self._init_cluster()
        self._pg_ctl("start", "-w", "-t", str(int(START_TIMEOUT)), "-l", str(self.log))
        self.wait_ready()
        if not getattr(self, "_provisioned", False):
            self._provision()
            self._provisioned = True
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "30")
            except HarnessError:
                self._kill_postmaster()

    def restart(self) -> None:
        """Fast restart: every client connection is cut, as in an RDS reboot or failover."""
        self._pg_ctl("restart", "-m", "fast", "-w", "-t", str(int(START_TIMEOUT)), "-l", str(self.log))
        self.wait_ready()

    def wait_ready(self) -> None:
        wait_until(
            lambda: self.psql("SELECT 1").strip() == "1",
            timeout=START_TIMEOUT,
            what="postgresql",
            log=self.log,
            interval=0.1,
        )

    def set_password(self, password: str) -> None:
        """Change the application login's password, as an RDS rotation does: sessions already
        open keep working, new ones need the new password."""
        user = self.username.replace('"', '""')
        quoted = password.replace("'", "''")
        self.psql(f"ALTER ROLE \"{user}\" PASSWORD '{quoted}'")
        self.password = password

    # -- queries (superuser over the private Unix socket) ----------------------------------
    def psql(self, sql: str, database: str = "postgres") -> str:
        done = run_checked(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                PG_USER,
                "-d",
                database,
                "-c",
                sql,
            ],
            what="psql",
            timeout=30,
            user=PG_USER,
        )
        return done.stdout

    # -- internals -------------------------------------------------------------------------
    def _init_cluster(self) -> None:
        for path in (self.directory, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            shutil.chown(path, PG_USER, PG_USER)
        run_checked(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                PG_USER,
                "--auth-local=trust",
                "--auth-host=reject",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
            what="initdb",
            timeout=120,
            user=PG_USER,
        )
        ca, server = make_ca_and_server(self.directory / "tls", "localhost")
        for path in (self.directory / "tls", server.cert, server.key, ca):
            shutil.chown(path, PG_USER, PG_USER)
        self.ca_cert = ca
        conf = self.data / "postgresql.conf"
        with conf.open("a") as out:
            out.write(
                "\n# orthweb runtime harness\n"
                f"listen_addresses = '{LOOPBACK}'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "ssl = on\n"
                f"ssl_cert_file = '{server.cert}'\n"
                f"ssl_key_file = '{server.key}'\n"
                "ssl_min_protocol_version = 'TLSv1.2'\n"
                "max_connections = 200\n"
                # Throwaway cluster: durability across an OS crash is not under test.
                "fsync = off\n"
                "full_page_writes = off\n"
            )
        # Like rds.force_ssl=1: TCP only with TLS; superuser only on the private socket.
        (self.data / "pg_hba.conf").write_text(
            f"local all {PG_USER} trust\n"
            f"hostssl {self.database} {self.username} {LOOPBACK}/32 scram-sha-256\n"
            "hostnossl all all 0.0.0.0/0 reject\n"
        )

    def _provision(self) -> None:
        user = self.username.replace('"', '""')
        password = self.password.replace("'", "''")
        self.psql(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'")
        self.psql(f'CREATE DATABASE "{self.database}" OWNER "{user}"')

    def _pg_ctl(self, *args: str) -> None:
        try:
            run_checked(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
                what=f"pg_ctl {args[0]}",
                timeout=START_TIMEOUT + 30,
                user=PG_USER,
                stdin=subprocess.DEVNULL,
            )
        except HarnessError as exc:
            raise HarnessError(f"{exc}\n{log_tail(self.log)}") from exc

    def _kill_postmaster(self) -> None:
        import os
        import signal

        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass
