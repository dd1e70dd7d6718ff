"""Unit tests: the audit's configuration is strict (whole hours, exactly true/false, a topic for the digest)."""

from __future__ import annotations

import pytest

from backup_handler.errors import ConfigurationError
from backup_handler.settings import Settings

TOPIC = "ocid1.onstopic.oc1.iad.aaaaaaaatopic"


def test_audit_defaults_check_a_day_with_no_copy_grace_and_no_digest() -> None:
    settings = Settings.from_env({})

    assert (settings.audit_rpo_hours, settings.audit_copy_grace_hours, settings.audit_digest) == (24, 0, False)
    assert settings.audit_digest_topic_id is None


def test_audit_variables_are_read() -> None:
    settings = Settings.from_env(
        {
            "BACKUP_AUDIT_RPO_HOURS": "26",
            "BACKUP_AUDIT_COPY_GRACE_HOURS": "6",
            "BACKUP_AUDIT_DIGEST": "true",
            "BACKUP_AUDIT_DIGEST_TOPIC_ID": TOPIC,
        }
    )

    assert (settings.audit_rpo_hours, settings.audit_copy_grace_hours, settings.audit_digest) == (26, 6, True)
    assert settings.audit_digest_topic_id == TOPIC and settings.reporting


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BACKUP_AUDIT_RPO_HOURS", "24.5"),
        ("BACKUP_AUDIT_RPO_HOURS", "1e3"),
        ("BACKUP_AUDIT_RPO_HOURS", "true"),
        ("BACKUP_AUDIT_RPO_HOURS", "0"),
        ("BACKUP_AUDIT_RPO_HOURS", "-1"),
        ("BACKUP_AUDIT_RPO_HOURS", "100000"),
        ("BACKUP_AUDIT_COPY_GRACE_HOURS", "six"),
        ("BACKUP_AUDIT_COPY_GRACE_HOURS", " 6 "),
        ("BACKUP_AUDIT_RPO_HOURS", "24 "),
        ("BACKUP_AUDIT_DIGEST", "yes"),
        ("BACKUP_AUDIT_DIGEST", "1"),
        ("BACKUP_AUDIT_DIGEST", "True"),
        ("BACKUP_AUDIT_DIGEST", "on"),
        ("BACKUP_AUDIT_DIGEST_TOPIC_ID", "ocid1.volume.oc1.iad.abc"),
    ],
)
def test_an_audit_value_that_is_not_exactly_right_is_refused_naming_the_variable(name: str, value: str) -> None:
    env = {name: value, "BACKUP_NOTIFY_TOPIC_ID": TOPIC}

    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)

    assert refused.value.extra["errors"][0]["field"] == name


def test_a_digest_needs_somewhere_to_go() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"BACKUP_AUDIT_DIGEST": "true"})

    assert refused.value.extra["errors"][0]["field"] == "BACKUP_AUDIT_DIGEST_TOPIC_ID"
    assert Settings.from_env({"BACKUP_AUDIT_DIGEST": "true", "BACKUP_NOTIFY_TOPIC_ID": TOPIC}).audit_digest
    assert not Settings.from_env({"BACKUP_AUDIT_DIGEST": "false"}).audit_digest
