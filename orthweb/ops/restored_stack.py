"""The stack a restore serves from: its name, its Pulumi.<name>.yaml (the source stack's settings and
`restoreFrom`), and the DICOM bucket it adopts, which restore fills before `pulumi up` imports it.

`pulumi up` of that stack restores the database (RDS point-in-time restore of the source instance at
the moment, in the new stack's network) and adopts the bucket; nothing of the source stack changes.
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orthweb.config.keys import BY_NAME
from orthweb.config.problems import ConfigError
from orthweb.config.validation import check_stack_name
from orthweb.evaluate.stack_file import load_stack_file
from orthweb.infra.tags import with_role
from orthweb.ops.aws import OpsError
from orthweb.ops.restore import LiveData, fill_bucket
from orthweb.shared.constants import DICOM_BUCKET_ROLE, PROJECT, bucket_prefix
from orthweb.shared.restore_point import RestorePoint

# The most characters of the source stack's name a restored stack's name keeps (stack names are at most 20).
STACK_NAME_MAX = 20
RESTORE_FROM = f"{PROJECT}:restoreFrom"


@dataclass(frozen=True)
class RestoredStackFile:
    stack: str
    path: Path
    point: RestorePoint
    # Encrypted keys of the source's file, which cannot be copied (each stack encrypts with its own key).
    secrets_to_set: tuple[str, ...]
    # Objects copied into the adopted bucket (0 when resumed: copied earlier).
    objects: int = 0


def restored_stack_name(stack: str, moment: datetime.datetime) -> str:
    """`<stack>-r<MMDDhhmm>` of the moment in UTC, the source's name shortened to fit 20 characters."""
    stamp = f"-r{moment.astimezone(datetime.UTC):%m%d%H%M}"
    return stack[: STACK_NAME_MAX - len(stamp)].rstrip("-") + stamp


def check_new_stack(root: Path, stack: str, new_stack: str) -> Path:
    """The source's stack file, once the new stack's name is valid and its file does not exist yet."""
    try:
        check_stack_name(new_stack)
    except ConfigError as error:
        raise OpsError(f"--into: {error}") from None
    source = root / f"Pulumi.{stack}.yaml"
    if not source.is_file():
        raise OpsError(f"no {source.name} in {root}: run restore in the project directory of stack {stack!r}")
    if (root / f"Pulumi.{new_stack}.yaml").exists():
        raise OpsError(
            f"Pulumi.{new_stack}.yaml exists already: pass --resume {new_stack} to finish that restore, "
            "or --into another name"
        )
    return source


def restore_data(
    s3: Any,
    live: LiveData,
    moment: datetime.datetime,
    *,
    source_file: Path,
    new_stack: str,
    settings: dict[str, Any] | None = None,
) -> RestoredStackFile:
    """Fill the bucket the new stack adopts with the objects current at `moment`, then write its stack file."""
    bucket = bucket_prefix(new_stack, DICOM_BUCKET_ROLE) + secrets.token_hex(4)
    # Exactly the tags the stack declares for its DICOM bucket: an import fails on any difference.
    objects = fill_bucket(s3, live, moment, bucket=bucket, tags=with_role(new_stack, DICOM_BUCKET_ROLE))
    point = RestorePoint(database=live.database["DBInstanceIdentifier"], moment=moment, bucket=bucket)
    return dataclasses.replace(write_stack_file(source_file, new_stack, point, settings), objects=objects)


def write_stack_file(
    source_file: Path, new_stack: str, point: RestorePoint, settings: dict[str, Any] | None = None
) -> RestoredStackFile:
    """Pulumi.<new_stack>.yaml: the source's plain settings (with `settings` over them) and
    `restoreFrom`; its encrypted values are listed to be set again (they are encrypted for the
    source stack alone)."""
    read = load_stack_file(source_file)
    if read.problems:
        raise OpsError(f"{source_file.name}: {read.problems[0].line()}")
    raw = yaml.safe_load(source_file.read_text(encoding="utf-8")) or {}
    given = raw.get("config") or {}
    encrypted = sorted(key for key, value in given.items() if isinstance(value, dict) and set(value) == {"secure"})
    config = {key: value for key, value in given.items() if key not in encrypted and key != RESTORE_FROM}
    config.update(settings or {})
    config[RESTORE_FROM] = point.as_config()
    path = source_file.with_name(f"Pulumi.{new_stack}.yaml")
    header = f"# Restored from stack data of {point.database} at {point.as_config()['time']} by `orthweb restore`.\n"
    path.write_text(header + yaml.safe_dump({"config": config}, sort_keys=False), encoding="utf-8")
    return RestoredStackFile(stack=new_stack, path=path, point=point, secrets_to_set=tuple(encrypted))


def read_restored_stack(root: Path, new_stack: str) -> RestoredStackFile:
    """A restored stack's file, for `--resume`: it must exist and name where its data comes from."""
    path = root / f"Pulumi.{new_stack}.yaml"
    if not path.is_file():
        raise OpsError(f"--resume {new_stack}: no Pulumi.{new_stack}.yaml in {root}")
    read = load_stack_file(path)
    if read.problems:
        raise OpsError(f"{path.name}: {read.problems[0].line()}")
    try:
        point = BY_NAME["restoreFrom"].check("restoreFrom", read.values.get(RESTORE_FROM))
    except ConfigError as error:
        raise OpsError(str(error)) from None
    if point is None:
        raise OpsError(f"--resume {new_stack}: its stack file has no restoreFrom (it is not a restored stack)")
    return RestoredStackFile(stack=new_stack, path=path, point=point, secrets_to_set=())
