"""Field types bodies and configuration share: tags, KMS keys, selectors, alarm transitions, target lists.

Every collection is bounded before its items are validated (:func:`at_most`), so a body of a
million bad items costs one validation error, not a million.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from backup_handler.vocabulary.ocids import CompartmentOcid, TargetOcid

# OCI's tag limits: at most 64 tags on a resource (freeform and defined together), keys of at
# most 100 characters, values of at most 256 (Oracle's Tagging documentation, "Tag limits").
MAX_TAGS = 64
# The latest time an OCI timestamp can name (UTC), in epoch milliseconds.
MAX_EPOCH_MILLIS = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp() * 1000)


def at_most(limit: int) -> BeforeValidator:
    """Refuse an array or object with more than ``limit`` items before validating any of them."""

    def check(value: Any) -> Any:
        if isinstance(value, (list, dict)) and len(value) > limit:
            raise ValueError(f"has {len(value)} items; at most {limit} are accepted")
        return value

    return BeforeValidator(check)


BackupType = Literal["FULL", "INCREMENTAL"]
DisplayName = Annotated[str, Field(min_length=1, max_length=255)]
TagKey = Annotated[str, Field(min_length=1, max_length=100)]
TagValue = Annotated[str, Field(max_length=256)]
FreeformTags = Annotated[dict[TagKey, TagValue], at_most(MAX_TAGS)]
DefinedTags = Annotated[dict[TagKey, Annotated[dict[TagKey, TagValue], at_most(MAX_TAGS)]], at_most(MAX_TAGS)]
# Tags the function stamps on every backup; neither an invoker nor the configuration can set them.
TRIGGER_TAG = "backup-trigger"
SOURCE_TAG = "backup-source"
# Which deployment of the function made the backup (BACKUP_DEPLOYMENT_ID): retention and copies act
# only on the backups of their own deployment.
DEPLOYMENT_TAG = "backup-deployment"
# What the backup is a backup of ("volume", "bootVolume", "volumeGroup"): a member backup of a volume
# group backup that inherits its group's tags says "volumeGroup", so it is never retained on its own.
KIND_TAG = "backup-kind"
# Set by the lifecycle on a boot volume backup OCI refuses to copy for good (not a platform image).
COPY_TAG = "backup-copy"
STAMPED_TAGS = frozenset({TRIGGER_TAG, SOURCE_TAG, DEPLOYMENT_TAG, KIND_TAG})
# A restore test's result, written on the backup it restored: ``passed:<time>:<seconds>`` or ``failed:...``.
# Reserved, so that no invoker or configuration can make a backup look tested.
RESTORE_RESULT_TAG = "backup-restore-test"
# Set by retention with BACKUP_RETENTION_GRACE on a backup due for deletion: ``<since>|<rule>|<seal>``.
# Reserved, so that no invoker or configuration can put a backup on the way out.
RETENTION_DUE_TAG = "backup-retention-due"
RESERVED_TAGS = STAMPED_TAGS | {COPY_TAG, RESTORE_RESULT_TAG, RETENTION_DUE_TAG}
# On a volume a restore test made: the backup it was restored from. A volume carrying it is never backed up.
RESTORE_TEST_TAG = "backup-restore-test-of"
# BACKUP_FREEFORM_TAGS leaves room for the stamped tags within OCI's limit.
ConfiguredTags = Annotated[dict[TagKey, TagValue], at_most(MAX_TAGS - len(RESERVED_TAGS))]
KmsKeyId = Annotated[str, Field(pattern=r"^ocid1\.key\.[a-z0-9.-]+$", max_length=255)]


# The transitions Oracle documents; BACKUP_ALARM_TRANSITIONS chooses which start backups.
AlarmTransition = Literal["OK_TO_FIRING", "FIRING_TO_OK", "REPEAT", "RESET"]

SelectorKind = Literal["volume", "bootVolume", "volumeGroup"]


class Selector(BaseModel):
    """Every AVAILABLE volume, boot volume and/or volume group in a compartment whose tags match all pairs given.

    Resolved with the paginated list APIs, never Resource Search, which is eventually consistent.
    Tags are compared as :mod:`backup_handler.vocabulary.tags` says (OCI's rules). What it selects is
    written to, so ``includeSubcompartments`` is strictly a JSON boolean.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    compartment_id: CompartmentOcid = Field(alias="compartmentId")
    freeform_tags: FreeformTags = Field({}, alias="freeformTags")
    defined_tags: DefinedTags = Field({}, alias="definedTags")
    kinds: tuple[SelectorKind, ...] = Field(("volume", "bootVolume"), min_length=1, max_length=3)
    include_subcompartments: StrictBool = Field(False, alias="includeSubcompartments")


# ------------------------------------------------------------------ Schedule

MAX_SCHEDULE_TARGETS = 1000
# The most chains of batches one trigger runs at once (BACKUP_BATCH_CHAINS).
MAX_BATCH_CHAINS = 64
TargetList = Annotated[list[TargetOcid], at_most(MAX_SCHEDULE_TARGETS)]
