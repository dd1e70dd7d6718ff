"""Field types bodies and configuration share: tags, KMS keys, selectors, alarm transitions, target lists.

Every collection is bounded before its items are validated (:func:`at_most`), so a body of a
million bad items costs one validation error, not a million.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, overload

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from backup_handler.errors import InvalidRequest
from backup_handler.vocabulary.ocids import CompartmentOcid, TargetOcid
from backup_handler.vocabulary.tags import shared_defined, shared_freeform

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
    """Every AVAILABLE volume, boot volume and/or volume group in a compartment whose tags match all pairs given,
    and carry none of the excluded pairs (``excludeFreeformTags``, ``excludeDefinedTags``: any one leaves a
    resource out, whatever else it carries).

    Resolved with the paginated list APIs, never Resource Search, which is eventually consistent.
    Tags are compared as :mod:`backup_handler.vocabulary.tags` says (OCI's rules). What it selects is
    written to, so ``includeSubcompartments`` is strictly a JSON boolean. An excluded pair that is also an
    included one (the same key by OCI's rules, the same value) could never select anything: refused. An
    excluded pair on a key the include side names with another value (include ``backup=daily``, exclude
    ``backup=never``) is accepted: it can never match what the include side selects, so it changes nothing.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    compartment_id: CompartmentOcid = Field(alias="compartmentId")
    freeform_tags: FreeformTags = Field({}, alias="freeformTags")
    defined_tags: DefinedTags = Field({}, alias="definedTags")
    kinds: tuple[SelectorKind, ...] = Field(("volume", "bootVolume"), min_length=1, max_length=3)
    include_subcompartments: StrictBool = Field(False, alias="includeSubcompartments")
    exclude_freeform_tags: FreeformTags = Field({}, alias="excludeFreeformTags")
    exclude_defined_tags: DefinedTags = Field({}, alias="excludeDefinedTags")

    @field_validator("exclude_freeform_tags")
    @classmethod
    def _not_also_included_freeform(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        shared = shared_freeform(info.data.get("freeform_tags") or {}, value)
        if shared is not None:
            raise ValueError(f"{shared[0]}={shared[1]} is also in freeformTags: no resource could be selected")
        return value

    @field_validator("exclude_defined_tags")
    @classmethod
    def _not_also_included_defined(
        cls, value: dict[str, dict[str, str]], info: ValidationInfo
    ) -> dict[str, dict[str, str]]:
        shared = shared_defined(info.data.get("defined_tags") or {}, value)
        if shared is not None:
            raise ValueError(
                f"{shared[0]}.{shared[1]}={shared[2]} is also in definedTags (tag names are case insensitive): "
                "no resource could be selected"
            )
        return value

    @property
    def excludes(self) -> bool:
        return bool(self.exclude_freeform_tags or self.exclude_defined_tags)

    def exclusions(self) -> tuple[tuple[str, dict[str, str], dict[str, dict[str, str]]], ...]:
        """Each set of excluded pairs the selector honours, with where it comes from: its own, then any
        configuration added (:func:`narrowed`)."""
        return (("", self.exclude_freeform_tags, self.exclude_defined_tags),)


class NarrowedSelector(Selector):
    """A selector a body sent, under the exclusions of the configured one (``BACKUP_SELECTOR``).

    Made only by :func:`narrowed`, never from a body: configuration narrows what a body selects, never widens.
    """

    configured_exclude_freeform_tags: FreeformTags = Field({}, alias="configuredExcludeFreeformTags")
    configured_exclude_defined_tags: DefinedTags = Field({}, alias="configuredExcludeDefinedTags")

    def exclusions(self) -> tuple[tuple[str, dict[str, str], dict[str, dict[str, str]]], ...]:
        configured = ("BACKUP_SELECTOR", self.configured_exclude_freeform_tags, self.configured_exclude_defined_tags)
        return (*super().exclusions(), configured)


@overload
def narrowed(selector: Selector, configured: Selector | None) -> Selector: ...
@overload
def narrowed(selector: None, configured: Selector | None) -> None: ...
def narrowed(selector: Selector | None, configured: Selector | None) -> Selector | None:
    """A body's ``selector`` under the exclusions of the ``configured`` one: what configuration leaves out, no
    body brings back. A body that asks to select a pair configuration excludes is refused, naming the field."""
    if selector is None or configured is None or not configured.excludes:
        return selector
    shared = shared_freeform(selector.freeform_tags, configured.exclude_freeform_tags)
    if shared is not None:
        raise _excluded_by_configuration("freeformTags", shared[0], f"{shared[0]}={shared[1]}", "excludeFreeformTags")
    shared_tag = shared_defined(configured.exclude_defined_tags, selector.defined_tags)  # as the body spells it
    if shared_tag is not None:
        namespace, key, value = shared_tag
        raise _excluded_by_configuration(
            "definedTags", f"{namespace}.{key}", f"{namespace}.{key}={value}", "excludeDefinedTags"
        )
    return NarrowedSelector(
        **dict(selector),
        configured_exclude_freeform_tags=configured.exclude_freeform_tags,
        configured_exclude_defined_tags=configured.exclude_defined_tags,
    )


def _excluded_by_configuration(field: str, path: str, pair: str, exclude_field: str) -> InvalidRequest:
    problem = f"selects {pair}, which configuration excludes (BACKUP_SELECTOR {exclude_field})"
    name = f"selector.{field}.{path}"[:200]
    return InvalidRequest(f"the selector is invalid: {name} {problem}", errors=[{"field": name, "problem": problem}])


# ------------------------------------------------------------------ Schedule

MAX_SCHEDULE_TARGETS = 1000
# The most chains of batches one trigger runs at once (BACKUP_BATCH_CHAINS).
MAX_BATCH_CHAINS = 64
TargetList = Annotated[list[TargetOcid], at_most(MAX_SCHEDULE_TARGETS)]
