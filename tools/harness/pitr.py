"""Point-in-time restore on 127.0.0.1: PostgreSQL's own recovery (a base backup, the WAL archive and
`recovery_target_time`) for the index, as RDS restores a database to a moment; and an Orthanc on the
index with a filesystem storage whose files are mirrored into moto's versioned bucket under the keys
Orthanc's S3 plugin writes (Debian has no S3 plugin: the mirror stands in for its writes and deletes).
"""

from __future__ import annotations

import datetime
import json
import shutil
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.harness.orthanc import ORTHANC_BINARY, ORTHANC_USER, postgres_plugin
from tools.harness.postgres import PG_USER, PostgresServer
from tools.harness.processes import (
    LOOPBACK,
    ManagedProcess,
    free_port,
    port_open,
    run_checked,
    wait_until,
)

START_TIMEOUT = 60.0


@dataclass
class ArchivingPostgres(PostgresServer):
    """A PostgresServer that archives every WAL segment into `archive`."""

    archive: Path = field(default=Path("/nonexistent"))

    def start(self) -> ArchivingPostgres:
        if not self.data.exists():
            self.archive.mkdir(parents=True, exist_ok=True)
            shutil.chown(self.archive, PG_USER, PG_USER)
            self._init_cluster()
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(f"wal_level = replica\narchive_mode = on\narchive_command = 'cp %p {self.archive}/%f'\n")
            with (self.data / "pg_hba.conf").open("a") as hba:
                hba.write(f"local replication {PG_USER} trust\n")
        super().start()
        return self

    def base_backup(self, into: Path) -> Path:
        """A copy of the cluster to replay the archive onto (pg_basebackup over the private socket)."""
        into.mkdir(parents=True, mode=0o700)
        shutil.chown(into, PG_USER, PG_USER)
        connection = ["-h", str(self.socket_dir), "-p", str(self.port), "-U", PG_USER]
        run_checked(
            [str(self.bindir / "pg_basebackup"), *connection, "-D", str(into), "-X", "none", "-c", "fast"],
            what="pg_basebackup",
            timeout=120,
            user=PG_USER,
        )
        return into

    def archive_current_wal(self) -> None:
        """Close the WAL segment being written and wait until the archiver has copied it."""
        segment = self.psql("SELECT pg_walfile_name(pg_switch_wal())").strip()
        wait_until(lambda: (self.archive / segment).exists(), timeout=START_TIMEOUT, what="WAL archive", log=self.log)

    def recover(self, base: Path, directory: Path, moment: datetime.datetime) -> PostgresServer:
        """A new cluster from `base`, replayed from the archive up to `moment`, then promoted."""
        restored = PostgresServer(directory, free_port(), self.database, self.username, self.password)
        for path in (directory, restored.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            shutil.chown(path, PG_USER, PG_USER)
        run_checked(["cp", "-a", str(base), str(restored.data)], what="copy base backup", timeout=120, user=PG_USER)
        with (restored.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {restored.port}\nunix_socket_directories = '{restored.socket_dir}'\narchive_mode = off\n"
                f"restore_command = 'cp {self.archive}/%f %p'\n"
                f"recovery_target_time = '{moment.isoformat()}'\nrecovery_target_action = 'promote'\n"
            )
        (restored.data / "recovery.signal").touch()
        shutil.chown(restored.data / "recovery.signal", PG_USER, PG_USER)
        restored._provisioned = True  # the roles and the database come back with the data
        try:
            restored.start()
            wait_until(
                lambda: restored.psql("SELECT pg_is_in_recovery()").strip() == "f",
                timeout=START_TIMEOUT,
                what="recovery to the target time",
                log=restored.log,
            )
        except BaseException:
            restored.stop()
            raise
        return restored


@dataclass
class IndexedOrthanc:
    """Debian's Orthanc on a PostgreSQL index and a filesystem storage, plain HTTP on loopback."""

    directory: Path
    database: PostgresServer
    storage: Path
    http_port: int = field(default_factory=free_port)
    process: ManagedProcess | None = None

    def start(self) -> IndexedOrthanc:
        for path in (self.directory, self.storage):
            path.mkdir(parents=True, exist_ok=True)
            shutil.chown(path, ORTHANC_USER, ORTHANC_USER)
        config = self.directory / "orthanc.json"
        config.write_text(json.dumps(self._config()))
        shutil.chown(config, ORTHANC_USER, ORTHANC_USER)
        self.process = ManagedProcess(
            f"orthanc-{self.directory.name}",
            [str(ORTHANC_BINARY), str(config)],
            self.directory / "orthanc.log",
            env={"HOME": str(self.directory), "PATH": "/usr/sbin:/usr/bin:/bin"},
            user=ORTHANC_USER,
        ).start()
        self.process.wait_ready(lambda: port_open(self.http_port), START_TIMEOUT)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def _config(self) -> dict[str, Any]:
        db = self.database
        return {
            "Name": self.directory.name,
            "HttpPort": self.http_port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "StorageDirectory": str(self.storage),
            "IndexDirectory": str(self.storage),
            "Plugins": [postgres_plugin()],
            "PostgreSQL": {
                "EnableIndex": True,
                "EnableStorage": False,
                "Host": LOOPBACK,
                "Port": db.port,
                "Database": db.database,
                "Username": db.username,
                "Password": db.password,
                "EnableSsl": True,
                "Lock": False,
            },
        }

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        url = f"http://{LOOPBACK}:{self.http_port}{path}"
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method), timeout=30) as answer:
            return answer.read()

    def get(self, path: str) -> Any:
        return json.loads(self.request("GET", path))

    def file_path(self, uuid: str) -> Path:
        """Where Orthanc's filesystem storage keeps an attachment (two levels of the uuid's digits)."""
        return self.storage / uuid[0:2] / uuid[2:4] / uuid


def mirror_to_bucket(orthanc: IndexedOrthanc, files: Mapping[str, str], s3: Any, bucket: str) -> None:
    """Given the S3 plugin's key -> attachment uuid of every attachment the index names: write each
    one not in the bucket yet, and delete each object no longer named (S3 then keeps a delete marker)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    present = {item["Key"] for page in pages for item in page.get("Contents", [])}
    for key, uuid in files.items():
        if key not in present:
            s3.put_object(Bucket=bucket, Key=key, Body=orthanc.file_path(uuid).read_bytes())
    for key in present - set(files):
        s3.delete_object(Bucket=bucket, Key=key)


def restore_storage(s3: Any, bucket: str, versions: dict[str, str], storage: Path) -> None:
    """Lay the chosen object versions out as Orthanc's filesystem storage (the uuid is the key's stem)."""
    for key, version in versions.items():
        uuid = key.split(".", 1)[0]
        target = storage / uuid[0:2] / uuid[2:4] / uuid
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read())
    for path in [storage, *storage.rglob("*")]:
        shutil.chown(path, ORTHANC_USER, ORTHANC_USER)


def next_second(moment: datetime.datetime) -> None:
    """Wait until the clock has left `moment`'s second (S3 times writes to the second)."""
    boundary = moment.replace(microsecond=0) + datetime.timedelta(seconds=1)
    wait_until(
        lambda: datetime.datetime.now(datetime.UTC) >= boundary, timeout=2.0, what="the next second", interval=0.02
    )
