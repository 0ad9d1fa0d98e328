"""What a stack keeps and how it guards its data, decided once per environment.

A dev stack is made to be destroyed: `pulumi destroy` removes everything, data included, and
nothing waits out a recovery window. A prod stack keeps its data on `destroy` (the buckets, the
database and what it holds on to, the key that encrypts them, the database's network, the sign-in
user pool, the audit log group), has AWS refuse to delete the database, the user pool and the
audit log group, runs the database in two zones, and keeps backups, a deleted key and deleted
secrets recoverable for 30 days.
Components take their stack's Durability; none of them, nor the composer, tests the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from orthweb.shared.constants import DEV, PROD


@dataclass(frozen=True)
class Durability:
    # `pulumi destroy` leaves them in AWS: buckets, database, their key, the database's network, the user pool.
    keep_data: bool
    # AWS itself refuses to delete the database, the user pool and the audit log group.
    deletion_protection: bool
    # The database keeps a standby in the other zone.
    multi_az: bool
    backup_retention_days: int
    # Days a deleted key (KMS: 7 to 30) and deleted secrets (Secrets Manager: 0, or 7 to 30) can be restored.
    key_deletion_window_days: int
    secret_recovery_window_days: int
    # Database changes apply at once, or (production) in its next maintenance window.
    apply_database_changes_now: bool
    # S3 Object Lock on the audit bucket: COMPLIANCE (nobody, the root user included, can delete a
    # log file before its days are up) or GOVERNANCE (who holds s3:BypassGovernanceRetention can).
    audit_lock_mode: str
    audit_retention_days: int


DURABILITY: Final = {
    DEV: Durability(
        keep_data=False,
        deletion_protection=False,
        multi_az=False,
        backup_retention_days=7,
        key_deletion_window_days=7,
        secret_recovery_window_days=0,
        apply_database_changes_now=True,
        audit_lock_mode="GOVERNANCE",
        audit_retention_days=7,
    ),
    PROD: Durability(
        keep_data=True,
        deletion_protection=True,
        multi_az=True,
        backup_retention_days=30,
        key_deletion_window_days=30,
        secret_recovery_window_days=30,
        apply_database_changes_now=False,
        audit_lock_mode="COMPLIANCE",
        # Six years: what HIPAA asks its required documentation to be kept for.
        audit_retention_days=2190,
    ),
}
