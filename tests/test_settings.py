"""Unit tests: configuration from BACKUP_* variables."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backup_handler.errors import ConfigurationError
from backup_handler.settings import Settings
from localdev.samples import BOOT_VOLUMES, VOLUMES


def test_defaults_without_any_configuration() -> None:
    settings = Settings.from_env({"PATH": "/usr/bin", "FN_FORMAT": "http-stream"})

    assert settings.type == "INCREMENTAL"
    assert settings.targets == ()
    assert settings.blockstorage_endpoint is None


def test_every_variable_is_read_with_the_backup_prefix() -> None:
    settings = Settings.from_env(
        {
            "BACKUP_TYPE": "FULL",
            "BACKUP_TARGETS": f"{VOLUMES[0]},{BOOT_VOLUMES[0]}  {VOLUMES[1]}",
            "BACKUP_FREEFORM_TAGS": '{"team": "storage"}',
            "BACKUP_BLOCKSTORAGE_ENDPOINT": "http://127.0.0.1:9000",
            "BACKUP_MAX_CONCURRENCY": "4",
            "BACKUP_SCHEDULE_SLOT_SECONDS": "86400",
            "BACKUP_DISPLAY_NAME_TEMPLATE": "{trigger}-{time}",
            "BACKUP_ALLOWED_KMS_KEY_IDS": "ocid1.key.oc1.iad.a.b",
        }
    )

    assert settings.type == "FULL"
    assert settings.targets == (VOLUMES[0], BOOT_VOLUMES[0], VOLUMES[1])
    assert settings.freeform_tags == {"team": "storage"}
    assert settings.max_concurrency == 4
    assert settings.schedule_slot_seconds == 86400
    assert settings.allowed_kms_key_ids == ("ocid1.key.oc1.iad.a.b",)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BACKUP_TYPE", "DAILY"),
        ("BACKUP_TARGETS", "ocid1.instance.oc1.iad.abc"),
        ("BACKUP_FREEFORM_TAGS", "team=storage"),
        ("BACKUP_MAX_CONCURRENCY", "0"),
        ("BACKUP_DISPLAY_NAME_TEMPLATE", "{volume}-{time}"),
        ("BACKUP_DISPLAY_NAME_TEMPLATE", "{trigger"),
        ("BACKUP_BLOCKSTORAGE_ENDPOINT", "iaas.example.com"),
        ("BACKUP_TYPO_IN_NAME", "x"),
        # Validate-then-fail-later values: each must be refused at load, naming the variable.
        ("BACKUP_DISPLAY_NAME_TEMPLATE", "{time:d}"),
        ("BACKUP_DISPLAY_NAME_TEMPLATE", "{trigger!x}"),
        ("BACKUP_DISPLAY_NAME_TEMPLATE", "{trigger!r}"),
        ("BACKUP_DISPLAY_NAME_TEMPLATE", "{time:>300000000}"),
        ("BACKUP_DISPLAY_NAME_TEMPLATE", "{time.real}"),
        ("BACKUP_DISPLAY_NAME_TEMPLATE", "{time[0]}"),
        ("BACKUP_DISPLAY_NAME_TEMPLATE", "{}"),
        ("BACKUP_BLOCKSTORAGE_ENDPOINT", "https://user:secret@iaas.us-ashburn-1.oraclecloud.com"),
        ("BACKUP_BLOCKSTORAGE_ENDPOINT", "https://iaas.us-ashburn-1.oraclecloud.com:99999"),
        ("BACKUP_BLOCKSTORAGE_ENDPOINT", "https://iaas.us-ashburn-1.oraclecloud.com:port"),
        ("BACKUP_BLOCKSTORAGE_ENDPOINT", "ftp://iaas.example.com"),
        ("BACKUP_BLOCKSTORAGE_ENDPOINT", "https://iaas.example.com/?x=1"),
        ("BACKUP_SCHEDULE_SLOT_SECONDS", "86401"),
        ("BACKUP_ALARM_TRANSITIONS", "RESEND"),
        ("BACKUP_MAX_TARGETS", "1001"),
        ("BACKUP_MAX_BODY_BYTES", "6291456"),
        ("BACKUP_FREEFORM_TAGS", json.dumps({f"k{n}": "v" for n in range(63)})),  # + 2 stamped > 64
    ],
)
def test_invalid_configuration_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({name: value})

    assert caught.value.extra["errors"][0]["field"] == name
    assert name in caught.value.message


def test_a_valid_template_and_endpoint_pass_unchanged() -> None:
    settings = Settings.from_env(
        {
            "BACKUP_DISPLAY_NAME_TEMPLATE": "nightly-{trigger}-{resource_suffix}-{time}-{resource_id}",
            "BACKUP_BLOCKSTORAGE_ENDPOINT": "https://iaas.us-ashburn-1.oraclecloud.com:443/",
        }
    )

    assert settings.display_name_template == "nightly-{trigger}-{resource_suffix}-{time}-{resource_id}"
    assert settings.blockstorage_endpoint == "https://iaas.us-ashburn-1.oraclecloud.com:443/"


def test_alarm_transitions_default_to_ok_to_firing_and_take_a_list() -> None:
    assert Settings.from_env({}).alarm_transitions == ("OK_TO_FIRING",)
    configured = Settings.from_env({"BACKUP_ALARM_TRANSITIONS": "OK_TO_FIRING, REPEAT"})
    assert configured.alarm_transitions == ("OK_TO_FIRING", "REPEAT")


# ------------------------------------------------------------------------------------------- retention tiers


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BACKUP_RETENTION_KEEP_HOURLY", "twenty-four"),
        ("BACKUP_RETENTION_KEEP_DAILY", "7.0"),
        ("BACKUP_RETENTION_KEEP_WEEKLY", " 4"),
        ("BACKUP_RETENTION_KEEP_MONTHLY", "-2"),
        ("BACKUP_RETENTION_KEEP_YEARLY", "true"),
        ("BACKUP_RETENTION_KEEP_LAST", "thirty"),
        ("BACKUP_RETENTION_KEEP_LAST", "1e3"),
        ("BACKUP_RETENTION_MAX_AGE_DAYS", "30d"),
        ("BACKUP_RETENTION_MAX_DELETES", "many"),
        ("BACKUP_RETENTION_MAX_DELETES", "0"),
        ("BACKUP_RETENTION_MAX_DELETES_PER_VOLUME", "10.5"),
        ("BACKUP_RETENTION_MIN_KEEP", "0"),
        ("BACKUP_RETENTION_MIN_KEEP", "one"),
        ("BACKUP_RETENTION_KEEP_WITHIN", "2 days"),
        ("BACKUP_RETENTION_KEEP_WITHIN", "1d2d"),
        ("BACKUP_RETENTION_KEEP_WITHIN", "3d1y"),
        ("BACKUP_RETENTION_KEEP_WITHIN", "0d"),
        ("BACKUP_RETENTION_KEEP_WITHIN", "30min"),
        ("BACKUP_TIMEZONE", "Mars/Olympus_Mons"),
        ("BACKUP_TIMEZONE", "../../etc/passwd"),
        ("BACKUP_TIMEZONE", "utc"),
        ("BACKUP_RETENTION_ORPHANS", "apply"),
        ("BACKUP_RETENTION_ORPHANS", "KEEP"),
        ("BACKUP_RETENTION_GRACE", "7"),
        ("BACKUP_RETENTION_GRACE", "1w"),
        ("BACKUP_RETENTION_GRACE", "400d"),
    ],
)
def test_a_retention_setting_that_is_not_what_it_must_be_is_refused_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({name: value})

    assert caught.value.extra["errors"][0]["field"] == name
    assert name in caught.value.message


def test_retention_tiers_and_their_companions_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "BACKUP_RETENTION_KEEP_HOURLY": "24",
            "BACKUP_RETENTION_KEEP_DAILY": "7",
            "BACKUP_RETENTION_KEEP_WEEKLY": "4",
            "BACKUP_RETENTION_KEEP_MONTHLY": "12",
            "BACKUP_RETENTION_KEEP_YEARLY": "unlimited",
            "BACKUP_RETENTION_KEEP_WITHIN": "1y6m2d12h",
            "BACKUP_TIMEZONE": "Europe/Berlin",
            "BACKUP_RETENTION_ORPHANS": "keep",
            "BACKUP_RETENTION_MAX_DELETES": "200",
            "BACKUP_RETENTION_MAX_DELETES_PER_VOLUME": "3",
            "BACKUP_RETENTION_MIN_KEEP": "2",
            "BACKUP_RETENTION_GRACE": "7d",
        }
    )

    assert (settings.retention_keep_hourly, settings.retention_keep_yearly) == (24, -1)
    assert settings.retention and settings.lifecycle
    assert settings.retention_grace_hours == 7 * 24
    assert (settings.retention_max_deletes, settings.retention_max_deletes_per_volume) == (200, 3)


def test_defaults_keep_deletion_bounded_and_the_newest_backup() -> None:
    settings = Settings()

    assert not settings.retention
    assert (settings.retention_max_deletes, settings.retention_max_deletes_per_volume) == (1000, 10)
    assert settings.retention_min_keep == 1 and settings.retention_grace is None
    assert settings.retention_orphans == "keep-last-one" and settings.timezone == "UTC"


@pytest.mark.parametrize(
    ("tier", "count", "max_age"),
    [
        ("DAILY", "7", "6"),
        ("WEEKLY", "4", "27"),
        ("MONTHLY", "12", "300"),
        ("YEARLY", "2", "700"),
        ("DAILY", "-1", "9"),
    ],
)
def test_a_max_age_that_would_cut_a_tier_short_is_a_contradiction_naming_both(
    tier: str, count: str, max_age: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({f"BACKUP_RETENTION_KEEP_{tier}": count, "BACKUP_RETENTION_MAX_AGE_DAYS": max_age})

    field = caught.value.extra["errors"][0]["field"]
    assert f"BACKUP_RETENTION_KEEP_{tier}" in field and "BACKUP_RETENTION_MAX_AGE_DAYS" in field


def test_a_keep_within_longer_than_the_max_age_is_a_contradiction() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"BACKUP_RETENTION_KEEP_WITHIN": "2m", "BACKUP_RETENTION_MAX_AGE_DAYS": "30"})
    assert "BACKUP_RETENTION_KEEP_WITHIN" in caught.value.message
    assert Settings.from_env({"BACKUP_RETENTION_KEEP_WITHIN": "2m", "BACKUP_RETENTION_MAX_AGE_DAYS": "60"}).retention


def test_every_keep_within_the_settings_accept_reads_as_restic_reads_it() -> None:
    from backup_handler.runs.tiers import parse_within

    for text, parts in (
        ("2d", (0, 0, 2, 0)),
        ("36h", (0, 0, 0, 36)),
        ("1y6m", (1, 6, 0, 0)),
        ("1y2m3d4h", (1, 2, 3, 4)),
    ):
        assert Settings.from_env({"BACKUP_RETENTION_KEEP_WITHIN": text}).retention_keep_within == text
        within = parse_within(text)
        assert (within.years, within.months, within.days, within.hours) == parts


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("bool", "true", True),
        ("bool", "false", False),
        ("bool", "True", "True"),
        ("bool", "1", "1"),
        ("bool", " true", " true"),
        ("number", "16", 16),
        ("number", "1.5", 1.5),
        ("number", "16.0", 16.0),
        ("number", " 16", " 16"),
        ("number", "NaN", "NaN"),
        ("number", "1e999", "1e999"),
        ("number", "true", "true"),
        ("number", "0x10", "0x10"),
        (None, "16", "16"),
    ],
)
def test_one_strict_rule_reads_a_variable_as_a_boolean_or_number(kind: Any, text: str, value: Any) -> None:
    from backup_handler.settings import env_scalar

    assert env_scalar(kind, text) == value and type(env_scalar(kind, text)) is type(value)


def test_the_default_batch_size_never_exceeds_max_targets() -> None:
    assert Settings.from_env({"BACKUP_MAX_TARGETS": "100"}).batch_size == 100
    assert Settings.from_env({"BACKUP_MAX_TARGETS": "1000"}).batch_size == 250
    assert Settings(max_targets=10).batch_size == 10


def test_every_contradiction_is_reported_with_both_names() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(
            {
                "BACKUP_COPY_KMS_KEY_ID": "ocid1.key.oc1.iad.a",
                "BACKUP_COPY_ENDPOINT": "http://127.0.0.1:9",
                "BACKUP_MAX_TARGETS": "5",
                "BACKUP_BATCH_SIZE": "6",
            }
        )

    pairs = {(e["field"], e["contradicts"]) for e in caught.value.extra["errors"]}
    assert pairs == {
        ("BACKUP_COPY_KMS_KEY_ID", "BACKUP_COPY_REGION"),
        ("BACKUP_COPY_ENDPOINT", "BACKUP_COPY_REGION"),
        ("BACKUP_BATCH_SIZE", "BACKUP_MAX_TARGETS"),
    }
