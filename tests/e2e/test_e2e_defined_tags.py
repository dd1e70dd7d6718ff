"""Defined tags through the real function: only the configured namespaces, as the deployment grants them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from localdev.emulator import BlockStorageEmulator
from localdev.platform import FnPlatform
from localdev.samples import VOLUMES

pytestmark = pytest.mark.e2e

TAGS = {"Operations": {"tier": "gold"}}


def test_a_manual_body_with_defined_tags_outside_the_configured_namespaces_is_refused_before_any_call(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    answer = platform.invoke({"volumeId": VOLUMES[0], "definedTags": TAGS})

    assert answer.status == 200
    error = answer.json()
    assert (error["code"], error["status"]) == ("InvalidRequest", 400)
    assert error["errors"][0]["field"] == "definedTags.Operations"
    assert "BACKUP_DEFINED_TAG_NAMESPACES" in error["errors"][0]["problem"]
    assert emulator.creates() == []


def test_defined_tags_in_a_configured_namespace_are_applied(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_DEFINED_TAG_NAMESPACES="Operations")

    made = platform.invoke({"volumeId": VOLUMES[0], "definedTags": TAGS}).json()

    assert made["definedTags"] == TAGS
    (backup,) = emulator.backups()
    assert backup["definedTags"] == TAGS
