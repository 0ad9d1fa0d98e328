"""Which availability zones the stack uses: the first that offer both the host type and the DB class.

AZ names map to different physical zones in each account, and a zone may lack an instance type
or an RDS class; asking AWS first keeps RunInstances and CreateDBInstance from failing halfway
through a deployment.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws


class ZoneChoiceError(pulumi.RunError):
    """Too few zones offer what the stack needs; shown to the user as one line, no traceback."""


def usable_zones(
    *,
    instance_type: str,
    db_instance_class: str,
    db_engine: str,
    db_engine_major: int,
    db_storage_type: str,
    count: int,
) -> pulumi.Output[list[str]]:
    """The first `count` zones (sorted by name) that need no opt-in and offer both."""
    # Local and Wavelength zones need an opt-in; "opt-in-not-required" keeps the region's own.
    available = aws.get_availability_zones_output(
        state="available",
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
    ).names
    host_zones = aws.ec2.get_instance_type_offerings_output(
        location_type="availability-zone",
        filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=[instance_type])],
    ).locations
    # The orderable options name full versions; the major's current one stands for it.
    engine_version = aws.rds.get_engine_version_output(engine=db_engine, version=str(db_engine_major), latest=True)
    database_zones = aws.rds.get_orderable_db_instance_output(
        engine=db_engine,
        engine_version=engine_version.version_actual,
        instance_class=db_instance_class,
        storage_type=db_storage_type,
        # Several options can match (one per minor or network type); this picks one, not an error.
        preferred_instance_classes=[db_instance_class],
    ).availability_zones
    region = aws.get_region_output().region
    return pulumi.Output.all(available, host_zones, database_zones, region).apply(
        lambda found: pick_zones(
            available=found[0],
            host_zones=found[1],
            database_zones=found[2],
            count=count,
            what=f"the host type {instance_type} and the database class {db_instance_class} in {found[3]}",
        )
    )


def pick_zones(
    *, available: Sequence[str], host_zones: Sequence[str], database_zones: Sequence[str], count: int, what: str
) -> list[str]:
    """The first `count` zones, by name, in all three lists; ZoneChoiceError when there are fewer."""
    usable = sorted(set(available) & set(host_zones) & set(database_zones))
    if len(usable) < count:
        found = ", ".join(usable) if usable else "none"
        raise ZoneChoiceError(
            f"orthweb needs {count} availability zones offering {what}, found {len(usable)} ({found}): "
            "choose deploymentOptions.instanceType or dbInstanceClass that more zones offer, or another region"
        )
    return usable[:count]
