"""Where a restored stack's data comes from: `restoreFrom` in its stack config.

`orthweb restore` writes it into the new stack's file; `pulumi up` of that stack then restores its
database from the source instance's automated backups at `time` (RDS point-in-time restore) and
adopts `bucket`, which `restore` filled with the DICOM objects current at that same moment.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

# The keys of the `restoreFrom` object, as a stack file spells them.
DATABASE, TIME, BUCKET = "database", "time", "bucket"
RESTORE_FROM_KEYS = (DATABASE, TIME, BUCKET)

# RDS instance identifiers: a letter, then letters, digits and single hyphens, at most 63, no hyphen last.
DB_IDENTIFIER_PATTERN = re.compile(r"[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)")
# S3 bucket names as orthweb makes them: lower-case letters, digits and hyphens, 3 to 63, no hyphen at either end.
BUCKET_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class RestorePoint:
    """The source database instance, the moment (UTC) both are restored to, and the bucket holding
    the objects current at that moment."""

    database: str
    moment: datetime.datetime
    bucket: str

    def as_config(self) -> dict[str, str]:
        """The `restoreFrom` object of a stack file."""
        return {DATABASE: self.database, TIME: moment_text(self.moment), BUCKET: self.bucket}


def moment_text(moment: datetime.datetime) -> str:
    """A moment as RFC 3339 in UTC to the second (what RDS's RestoreTime and `restoreFrom.time` take)."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_moment(text: str) -> datetime.datetime | None:
    """An ISO 8601 time with its zone, in UTC; None when it is not one."""
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(datetime.UTC) if moment.tzinfo is not None else None
