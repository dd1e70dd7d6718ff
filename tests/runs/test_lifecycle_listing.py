"""The compact record the orphan sweep holds of each of its own backups, and the listing that drops the rest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backup_handler.runs.lifecycle_listing import KEPT_FIELDS, CompartmentListing, compact
from backup_handler.runs.ownership import KINDS, parse_time, protection
from backup_handler.runs.retention import Candidate, Rule, decide, newest_first
from tests.runs.test_ownership import COMPARTMENT, ME, TAGS, VOLUME, backup

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def sdk_shaped(n: int = 0, **fields: Any) -> dict[str, Any]:
    """A listed backup as the SDK hands it over: every field of VolumeBackup, most of them unread."""
    defaults: dict[str, Any] = dict(
        id=f"ocid1.volumebackup.oc1.iad.b{n}",
        displayName=f"nightly-{n}",
        lifecycleState="AVAILABLE",
        timeCreated=f"2026-11-{1 + n % 25:02d}T03:00:00.000000+00:00",
        type="INCREMENTAL",
        sizeInGBs=50,
        sizeInMBs=51200,
        uniqueSizeInGBs=3,
        uniqueSizeInMbs=3072,
        expirationTime=None,
        kmsKeyId=None,
        timeRequestReceived="2026-11-01T03:00:00Z",
        definedTags={"Oracle-Tags": {"CreatedBy": "ocid1.resourceprincipal.oc1.iad." + "x" * 60}},
        systemTags={"orcl-cloud": {"free-tier-retained": "false"}},
        isPreventDeletionEnabled=False,
        isRetentionLockEnabled=False,
        isIndefiniteRetentionEnabled=False,
        timeRetentionExpiresAt=None,
        retentionPeriod=None,
        freeformTags={**TAGS, "cost-centre": "42", "backup-retention-due": "2026-11-20T00:00:00Z|rules|seal"},
    )
    return backup(**{**defaults, **fields})


def test_every_field_the_decisions_read_survives_and_nothing_else() -> None:
    item = sdk_shaped(3, isPreventDeletionEnabled=True, timeRetentionExpiresAt="2027-01-01T00:00:00Z")
    record = compact({**item, "someFieldOciAddsLater": {"big": "x" * 10_000}})
    assert set(record) == set(KEPT_FIELDS) & set(item)
    assert all(record[key] == item[key] for key in record)
    assert record["freeformTags"] == item["freeformTags"]  # whole: marking a backup rewrites all of them
    assert record["freeformTags"] is not item["freeformTags"]
    for gone in ("definedTags", "systemTags", "sizeInGBs", "someFieldOciAddsLater"):
        assert gone not in record


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"freeformTags": {**TAGS, "backup-deployment": "other/fn"}},
        {"freeformTags": {**TAGS, "backup-kind": "volumeGroup"}},
        {"volumeGroupBackupId": "ocid1.volumegroupbackup.oc1.iad.g"},
        {"sourceType": "SCHEDULED"},
        {"sourceVolumeBackupId": "ocid1.volumebackup.oc1.phx.src"},
        {"compartmentId": "ocid1.compartment.oc1..other"},
        {"isIndefiniteRetentionEnabled": True},
        {"isRetentionLockEnabled": True},
        {"timeRetentionExpiresAt": "2027-01-01T00:00:00Z"},
        {"lifecycleState": "CREATING"},
    ],
)
def test_the_compact_record_gets_the_same_verdicts_as_the_listed_backup(fields: dict[str, Any]) -> None:
    item = sdk_shaped(**fields)
    record = compact(item)
    kind = KINDS["volume"]
    assert ME.judge(record, kind, scope_id=VOLUME, compartment=COMPARTMENT) == ME.judge(
        item, kind, scope_id=VOLUME, compartment=COMPARTMENT
    )
    assert protection(record, NOW) == protection(item, NOW)
    assert parse_time(record.get("timeCreated")) == parse_time(item.get("timeCreated"))
    assert ME.copy_name(record) == ME.copy_name(item)


def test_retention_decides_the_same_over_compact_records() -> None:
    items = [sdk_shaped(n) for n in range(20)]
    rule = Rule(keep_last=3, max_age_days=None, daily=4, tz=UTC)

    def kept(backups: list[dict[str, Any]]) -> list[tuple[str, bool, tuple[str, ...]]]:
        ranked = newest_first([Candidate(b, t) for b in backups if (t := parse_time(b["timeCreated"])) is not None])
        return [(str(d.backup["id"]), d.keep, tuple(d.reasons)) for d in decide(ranked, rule, NOW)]

    assert kept([compact(item) for item in items]) == kept(items)


def test_a_listing_holds_only_own_backups_and_counts_the_rest() -> None:
    other = {**TAGS, "backup-deployment": "other/fn"}
    page = [
        sdk_shaped(1),
        sdk_shaped(2, freeformTags=other),
        sdk_shaped(3, freeformTags={"owner": "dba"}),
        sdk_shaped(4, volumeGroupBackupId="ocid1.volumegroupbackup.oc1.iad.g"),
        sdk_shaped(5, volumeId=None),
        sdk_shaped(1),  # listed again across a shifted page boundary
    ]
    listing = CompartmentListing(ME, KINDS["volume"], COMPARTMENT, room=10)
    listing.take(page)
    assert listing.held == 1 and list(listing.by_scope[VOLUME]) == ["ocid1.volumebackup.oc1.iad.b1"]
    assert (listing.foreign, listing.members, listing.others, listing.listed) == (1, 1, 2, 6)
    assert listing.identities == {"other/fn"}
    assert not listing.overflowed


def test_a_listing_past_its_room_says_so_and_drops_what_it_held() -> None:
    listing = CompartmentListing(ME, KINDS["volume"], COMPARTMENT, room=2)
    listing.take([sdk_shaped(n) for n in range(3)])
    assert listing.overflowed
    listing.drop()
    assert listing.held == 0 and listing.by_scope == {}
