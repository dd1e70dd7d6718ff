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
