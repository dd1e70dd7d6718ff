"""Restore tests' pure parts: the ownership proof, the recorded result, identity, durations and configuration."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_handler.errors import ConfigurationError
from backup_handler.oci.api import OPERATIONS
from backup_handler.reporting import restore_tests as reporting
from backup_handler.runs.cadence import parse_cadence
from backup_handler.runs.restore_tests import (
    RestoreRecord,
    stamp,
    ttl_of,
    why_not_own,
)
from backup_handler.settings import RESTORE_TEST_EVERY_PATTERN, RESTORE_TEST_TTL_PATTERN, Settings
from backup_handler.vocabulary.fields import DEPLOYMENT_TAG, RESERVED_TAGS, RESTORE_RESULT_TAG, RESTORE_TEST_TAG

SANDBOX = "ocid1.compartment.oc1..aaaaaaaasandbox"
BACKUP = "ocid1.volumebackup.oc1.iad.aaaaaaaabackup"
BOOT_BACKUP = "ocid1.bootvolumebackup.oc1.iad.aaaaaaaabackup"
ME = "backup-app/backup-handler"


def sandbox_volume(**changes: Any) -> dict[str, Any]:
    volume = {
        "id": "ocid1.volume.oc1.iad.aaaaaaaatest",
        "compartmentId": SANDBOX,
        "freeformTags": stamp(BACKUP, ME),
        "sourceDetails": {"type": "volumeBackup", "id": BACKUP},
    }
    volume.update(changes)
    return volume


# ------------------------------------------------------------------ ownership


def test_a_test_volume_of_this_deployment_is_its_own() -> None:
    assert why_not_own(sandbox_volume(), SANDBOX, ME) is None
    boot = sandbox_volume(
        id="ocid1.bootvolume.oc1.iad.aaaaaaaatest",
        freeformTags=stamp(BOOT_BACKUP, ME),
        sourceDetails={"type": "bootVolumeBackup", "id": BOOT_BACKUP},
    )
    assert why_not_own(boot, SANDBOX, ME) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"compartmentId": "ocid1.compartment.oc1..aaaaaaaaproduction"}, "not in the restore-test compartment"),
        ({"compartmentId": None}, "not in the restore-test compartment"),
        ({"freeformTags": {}}, "carries no restore-test stamp"),
        ({"freeformTags": None}, "carries no restore-test stamp"),
        ({"freeformTags": ["backup-restore-test-of"]}, "carries no restore-test stamp"),
        ({"freeformTags": {RESTORE_TEST_TAG: BACKUP}}, "stamped by another deployment"),
        ({"freeformTags": stamp(BACKUP, "other/backup-handler")}, "stamped by another deployment"),
        ({"freeformTags": stamp(BACKUP, ME + " ")}, "stamped by another deployment"),
        ({"sourceDetails": None}, "does not name the backup"),
        ({"sourceDetails": {"type": "volumeBackup", "id": BACKUP + "x"}}, "does not name the backup"),
        ({"sourceDetails": {"type": "volume", "id": BACKUP}}, "does not name the backup"),
        ({"freeformTags": stamp(BACKUP.upper(), ME)}, "does not name the backup"),
        (
            {"freeformTags": stamp(BOOT_BACKUP, ME), "sourceDetails": {"type": "bootVolumeBackup", "id": BOOT_BACKUP}},
            "does not name the backup",
        ),
        ({"id": "ocid1.instance.oc1.iad.aaaa"}, "not a volume"),
        ({"id": None}, "not a volume"),
    ],
)
def test_anything_short_of_all_three_proofs_is_not_its_own(changes: dict[str, Any], reason: str) -> None:
    assert reason in (why_not_own(sandbox_volume(**changes), SANDBOX, ME) or "")


# ------------------------------------------------------------------ the record


def test_a_record_reads_back_what_it_wrote() -> None:
    record = RestoreRecord(True, datetime(2026, 11, 27, 9, 15, 24, tzinfo=UTC), 312)

    assert record.tag() == "passed:2026-11-27T09:15:24Z:312"
    assert RestoreRecord.parse(record.tag()) == record
    assert RestoreRecord.parse("failed:2026-11-27T09:15:24Z:0") == RestoreRecord(False, record.at, 0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        1,
        "",
        "passed",
        "passed:",
        "ok:2026-11-27T09:15:24Z:1",
        "passed:2026-11-27T09:15:24Z:-1",
        "passed:2026-11-27T09:15:24Z:1.5",
        "passed:2026-11-27 09:15:24:1",
        "passed:2026-13-27T09:15:24Z:1",
        "PASSED:2026-11-27T09:15:24Z:1",
        "passed:2026-11-27T09:15:24Z:1" + "0" * 300,
    ],
)
def test_a_value_that_is_no_record_is_none(value: Any) -> None:
    assert RestoreRecord.parse(value) is None


def test_the_result_tag_is_reserved_and_the_stamp_is_not_the_result() -> None:
    assert RESTORE_RESULT_TAG in RESERVED_TAGS
    assert RESTORE_TEST_TAG != RESTORE_RESULT_TAG and DEPLOYMENT_TAG not in (RESTORE_TEST_TAG, RESTORE_RESULT_TAG)


# ------------------------------------------------------------------ identity and durations


def test_a_ttl_is_hours_or_days() -> None:
    assert ttl_of("24h") == timedelta(hours=24) and ttl_of("2d") == timedelta(days=2)
    with pytest.raises(ValueError):
        ttl_of("1w")


@given(st.from_regex(RESTORE_TEST_EVERY_PATTERN, fullmatch=True))
def test_every_every_the_configuration_accepts_is_a_cadence(text: str) -> None:
    assert str(parse_cadence(text)) == text


@given(st.from_regex(RESTORE_TEST_TTL_PATTERN, fullmatch=True))
def test_every_ttl_the_configuration_accepts_is_a_duration(text: str) -> None:
    assert ttl_of(text) > timedelta()


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"BACKUP_RESTORE_TEST_MAX": "2"}, "BACKUP_RESTORE_TEST_MAX needs BACKUP_RESTORE_TEST_COMPARTMENT_ID"),
        ({"BACKUP_RESTORE_TEST_EVERY": "7d"}, "BACKUP_RESTORE_TEST_EVERY needs BACKUP_RESTORE_TEST_COMPARTMENT_ID"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_RESTORE_TEST_MAX": "2.0"}, "whole number"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_RESTORE_TEST_MAX": "true"}, "whole number"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_RESTORE_TEST_MAX": " 2"}, "whole number"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_RESTORE_TEST_MAX": "0"}, "greater than or equal to 1"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_RESTORE_TEST_MAX": "51"}, "less than or equal to 50"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_RESTORE_TEST_EVERY": "7 d"}, "such as 7d"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_RESTORE_TEST_EVERY": "1w2d"}, "such as 7d"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_RESTORE_TEST_EVERY": "7D"}, "such as 7d"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_RESTORE_TEST_TTL": "1w"}, "such as 24h"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_RESTORE_TEST_TTL": "31d"}, "at most 30d"),
        ({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": "ocid1.volume.oc1..x"}, "compartment or tenancy OCID"),
        (
            {"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX, "BACKUP_SELECTOR": f'{{"compartmentId": "{SANDBOX}"}}'},
            "BACKUP_RESTORE_TEST_COMPARTMENT_ID is the compartment BACKUP_SELECTOR backs up",
        ),
    ],
)
def test_restore_test_configuration_is_refused_with_the_variable_named(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    assert problem in caught.value.message


def test_restore_tests_are_off_by_default_and_on_with_a_sandbox() -> None:
    assert not Settings().restore_tests
    configured = Settings.from_env({"BACKUP_RESTORE_TEST_COMPARTMENT_ID": SANDBOX.upper().replace("OCID1", "ocid1")})
    assert configured.restore_tests and configured.restore_test_compartment_id == SANDBOX
    assert (configured.restore_test_max, configured.restore_test_every, configured.restore_test_ttl) == (1, "7d", "24h")


# ------------------------------------------------------------------ API rows and metrics


@pytest.mark.parametrize(
    "name",
    [
        "CreateVolume",
        "CreateBootVolume",
        "GetVolume",
        "GetBootVolume",
        "DeleteVolume",
        "DeleteBootVolume",
        "UpdateVolumeBackup",
        "UpdateBootVolumeBackup",
    ],
)
def test_each_restore_test_operation_is_called_as_the_sdk_calls_it(name: str) -> None:
    from oci.core import BlockstorageClient

    operation = OPERATIONS[name]
    source = inspect.getsource(getattr(BlockstorageClient, operation.sdk_name))
    assert re.search(rf'resource_path = "{re.escape(operation.path)}"', source)
    assert re.search(rf'method = "{operation.method}"', source)
    assert "restoreTests" in operation.features


def test_metrics_count_failures_and_errors_and_report_the_longest_restore() -> None:
    section = {"failedCount": 2, "errorsCount": 1, "verified": [{"seconds": 30}, {"seconds": 90}, {"seconds": True}]}

    assert reporting.values(section) == [
        ("restore_tests_failed", [3.0], "count"),
        ("restore_test_seconds", [90.0], "seconds"),
    ]
    assert reporting.values({"failedCount": -1, "errorsCount": "2"}) == [("restore_tests_failed", [0.0], "count")]
