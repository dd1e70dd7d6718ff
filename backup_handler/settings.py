"""The function's configuration: one typed class read from ``BACKUP_*`` variables.

OCI Functions passes application and function configuration as environment
variables. Each field below is read from ``BACKUP_<FIELD NAME IN UPPER CASE>``;
the README's configuration table lists them with their defaults.

Every boolean and number is strict, and so is the one rule that reads them from a
variable's text (:func:`env_scalar`): a boolean is exactly ``true`` or ``false``
(``True``, ``1``, ``yes`` are refused), a number is a JSON number (``16``; for an
integer setting ``16.0`` and ``1e3`` are refused), never coerced. A configuration
that contradicts itself (a setting that another makes meaningless or impossible)
is a :class:`~backup_handler.errors.ConfigurationError` naming both settings.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from backup_handler.errors import ConfigurationError
from backup_handler.vocabulary.fields import (
    MAX_BATCH_CHAINS,
    MAX_SCHEDULE_TARGETS,
    RESERVED_TAGS,
    AlarmTransition,
    ConfiguredTags,
    KmsKeyId,
    Selector,
    TagKey,
)
from backup_handler.vocabulary.ocids import CompartmentOcid, TargetOcid
from backup_handler.vocabulary.validation import describe

ENV_PREFIX = "BACKUP_"

# Fields a display-name template may use; BackupRequest.api_body in request.py fills them.
DISPLAY_NAME_FIELDS = frozenset({"trigger", "resource_id", "resource_suffix", "time"})
# The longest values those fields take, to render a sample of the template at load.
_SAMPLE_FIELDS = {
    "trigger": "schedule",
    "resource_id": "ocid1.volume.oc1." + "x" * 237,
    "resource_suffix": "x" * 12,
    "time": "x" * 255,
}
# Block Storage keeps a retry token for 24 hours: a longer slot could not stay idempotent.
MAX_SLOT_SECONDS = 24 * 3600
# An OCI region identifier: a two- or three-letter area, one or more words, a number (us-ashburn-1,
# us-gov-ashburn-1, eu-dcc-milan-1). Every region the SDK lists has this shape (tests/oci/test_regions.py),
# so a region opened after the SDK was released is accepted too. Matched whole (fullmatch).
REGION_NAME = re.compile(r"[a-z]{2,3}(-[a-z]+)+-[0-9]+")
# A tag namespace name as an IAM condition quotes it: no spaces, periods, quotes, backslashes or controls.
TAG_NAMESPACE_NAME = re.compile(r"[^\s.'\"\\\x00-\x1f\x7f]{1,100}")
MAX_TAG_NAMESPACES = 10
# The longest RPO or copy grace an audit takes: a year.
MAX_AUDIT_HOURS = 366 * 24
# Restore tests: at most this many test volumes at once, whatever the configuration says.
MAX_RESTORE_TESTS = 50
# The full-backup cadence grammar of backup_handler.runs.cadence (parse_cadence reads what this accepts).
RESTORE_TEST_EVERY_PATTERN = r"^[1-9][0-9]{0,3}(h|d|w|mo|y)$"
RESTORE_TEST_TTL_PATTERN = r"^[1-9][0-9]{0,3}(h|d)$"
MAX_RESTORE_TEST_TTL_HOURS = 30 * 24
# Retention tiers: each a number of periods (0: off), or "unlimited" / -1 (one per period, forever; restic's).
RETENTION_TIERS = ("hourly", "daily", "weekly", "monthly", "yearly")
MAX_TIER_COUNT = 100_000
UNLIMITED_TIER = -1
# The keep-within grammar of backup_handler.runs.tiers.parse_within (restic's), stricter: each of y, m (months),
# d, h at most once, in that order, at least one, none zero-only; parse_within reads what this accepts.
KEEP_WITHIN_PATTERN = r"^(?=.*[1-9])([0-9]{1,5}y)?([0-9]{1,5}m)?([0-9]{1,5}d)?([0-9]{1,6}h)?$"
# How long a tier's N periods span at least, in days, to refuse a max-age that would cut the tier short.
_TIER_DAYS = {"hourly": 1 / 24, "daily": 1, "weekly": 7, "monthly": 28, "yearly": 365}
_WITHIN_DAYS = {"y": 365, "m": 28, "d": 1, "h": 1 / 24}
# A grace period before a due backup is deleted: <n>h or <n>d, at most a year.
RETENTION_GRACE_PATTERN = r"^[1-9][0-9]{0,3}(h|d)$"
MAX_RETENTION_GRACE_HOURS = 366 * 24
# BACKUP_COPY_VOLUME_TAGS: at most this many free-form tag keys copied from a volume onto its backups.
MAX_COPIED_TAGS = 16
# A deployment identity is a tag value (at most 256 characters): printable, no spaces, bounded.
DEPLOYMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+~-]*$"
MAX_DEPLOYMENT_ID_CHARS = 200
# What the platform sets for every function (fdk's ctx.AppName() and ctx.FnName() read them too).
PLATFORM_NAME_VARIABLES = ("FN_APP_NAME", "FN_FN_NAME")


def platform_deployment_id(environ: Mapping[str, str]) -> str | None:
    """``<application>/<function>`` from the platform's names; None when either is missing.

    Names that do not fit a tag value are kept readable in part and made unique by a digest.
    """
    names = [environ.get(name, "").strip() for name in PLATFORM_NAME_VARIABLES]
    if not all(names):
        return None
    value = "/".join(names)
    if len(value) <= MAX_DEPLOYMENT_ID_CHARS and re.fullmatch(DEPLOYMENT_ID_PATTERN, value):
        return value
    readable = re.sub(r"[^A-Za-z0-9._:/@+-]", "_", value)[:160].lstrip("._:/@+-") or "fn"
    return f"{readable}~{hashlib.sha256(value.encode()).hexdigest()[:24]}"


def _hours(duration: str) -> int:
    """``<n>h`` or ``<n>d`` in hours."""
    return int(duration[:-1]) * (24 if duration.endswith("d") else 1)


DEFAULT_BATCH_SIZE = 250

StrictFloat = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A JSON number (an integer is a number too); never a string, a boolean, NaN or infinity."""


class Settings(BaseModel):
    """Everything the function can be configured with (all optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["FULL", "INCREMENTAL"] = "INCREMENTAL"
    """Backup type when the request does not say."""

    display_name_template: str = Field("{trigger}-{resource_suffix}-{time}", min_length=1, max_length=255)
    """Display name of each backup; fields: {trigger} {resource_id} {resource_suffix} {time}."""

    freeform_tags: ConfiguredTags = {}
    """Freeform tags (a JSON object) stamped on every backup, besides backup-trigger/backup-source."""

    targets: tuple[TargetOcid, ...] = ()
    """Volumes and boot volumes a schedule tick with an empty body backs up (comma- or space-separated)."""

    schedule_slot_seconds: StrictInt = Field(3600, ge=60, le=MAX_SLOT_SECONDS)
    """Ticks delivered within one slot of this many seconds make one backup per target (at most 24 h)."""

    alarm_transitions: tuple[AlarmTransition, ...] = Field(("OK_TO_FIRING",), min_length=1)
    """Alarm message types that start backups (REPEAT would back up again every repeat interval)."""

    max_targets: StrictInt = Field(MAX_SCHEDULE_TARGETS, ge=1, le=MAX_SCHEDULE_TARGETS)
    """Most volumes one invocation backs up; a trigger naming more is refused whole."""

    blockstorage_endpoint: str | None = Field(None, max_length=2048)
    """Block Storage endpoint override (private endpoints, the local emulator); default: the region's."""

    identity_endpoint: str | None = Field(None, max_length=2048)
    """Identity endpoint override, for sub-compartment listing; default: the region's."""

    selector: Selector | None = None
    """What an empty-bodied schedule selects (JSON, as a body's "selector"), beside BACKUP_TARGETS."""

    batch_size: StrictInt = Field(DEFAULT_BATCH_SIZE, ge=1, le=MAX_SCHEDULE_TARGETS)
    """Targets one invocation backs up itself; more are split into batches, each a detached invocation
    (default 250, or BACKUP_MAX_TARGETS when that is lower)."""

    batch_chains: StrictInt = Field(4, ge=1, le=MAX_BATCH_CHAINS)
    """Batches of one trigger that run at once: its batches run as this many chains, one batch at a time
    each, so at most this × BACKUP_MAX_CONCURRENCY creates are in flight for the trigger."""

    invoke_endpoint: str | None = Field(None, max_length=2048)
    """This function's invoke endpoint (`fn inspect function ... invokeEndpoint`): enables batches."""

    retention_keep_last: StrictInt | None = Field(None, ge=1, le=10_000)
    """Keep this many of the function's own AVAILABLE backups per volume; delete older ones."""

    retention_max_age_days: StrictInt | None = Field(None, ge=1, le=36_500)
    """Delete the function's own backups older than this many days (never a volume's newest AVAILABLE one)."""

    retention_keep_hourly: int = Field(0, ge=UNLIMITED_TIER, le=MAX_TIER_COUNT)
    """Keep the newest backup of each of the N most recent clock hours that have one (restic's --keep-hourly)."""

    retention_keep_daily: int = Field(0, ge=UNLIMITED_TIER, le=MAX_TIER_COUNT)
    """Keep the newest backup of each of the N most recent days that have one (in BACKUP_TIMEZONE)."""

    retention_keep_weekly: int = Field(0, ge=UNLIMITED_TIER, le=MAX_TIER_COUNT)
    """Keep the newest backup of each of the N most recent ISO weeks (Monday to Sunday) that have one."""

    retention_keep_monthly: int = Field(0, ge=UNLIMITED_TIER, le=MAX_TIER_COUNT)
    """Keep the newest backup of each of the N most recent calendar months that have one."""

    retention_keep_yearly: int = Field(0, ge=UNLIMITED_TIER, le=MAX_TIER_COUNT)
    """Keep the newest backup of each of the N most recent calendar years that have one."""

    retention_keep_within: str | None = Field(None, max_length=32)
    """Keep every backup younger than this before the newest one (restic's duration: 1y2m3d4h, m = months)."""

    timezone: str = Field("UTC", max_length=64)
    """IANA time zone the retention tiers count hours, days, weeks, months and years in."""

    retention_orphans: Literal["keep-last-one", "keep"] = "keep-last-one"
    """Backups of volumes deleted or no longer selected: apply the rules, never the newest (keep-last-one), or keep."""

    retention_max_deletes: int = Field(1000, ge=1, le=100_000)
    """Most backups one invocation deletes, in all (the rest wait for later runs, which say so)."""

    retention_max_deletes_per_volume: int = Field(10, ge=1, le=10_000)
    """Most backups of one volume (or volume group, or of its copies) one invocation deletes."""

    retention_sweep_max_backups: int = Field(50_000, ge=1, le=200_000)
    """Most of this deployment's own backups the orphan sweep holds at once (compact records, about 1 KB each);
    a compartment whose listing would pass it is left for that tick (nothing there deleted, ``complete: false``)."""

    retention_min_keep: int = Field(1, ge=1, le=10_000)
    """The newest N AVAILABLE backups of each volume are never deleted, whatever the rules say."""

    retention_grace: str | None = Field(None, max_length=5)
    """A due backup is first marked (backup-retention-due) and deleted only when still due this long after."""

    retention_period_days: StrictInt | None = Field(None, ge=1, le=36_500)
    """retentionPeriod set on every backup: the API refuses to delete it earlier when locked."""

    retention_lock: StrictBool = False
    """isRetentionLockEnabled on every backup: immutable for BACKUP_RETENTION_PERIOD_DAYS."""

    prevent_deletion: StrictBool = False
    """isPreventDeletionEnabled on every backup."""

    copy_region: str | None = Field(None, max_length=64)
    """Region each of the function's backups is copied to once AVAILABLE (CopyVolumeBackup)."""

    copy_kms_key_id: KmsKeyId | None = None
    """Vault key (in the destination region) copies are encrypted with."""

    copy_endpoint: str | None = Field(None, max_length=2048)
    """Block Storage endpoint of the copy region (private endpoints, the local emulator)."""

    dry_run: StrictBool = False
    """Answer what would be created, copied and deleted, and call no mutating API."""

    deployment_id: str | None = Field(None, pattern=DEPLOYMENT_ID_PATTERN, max_length=MAX_DEPLOYMENT_ID_CHARS)
    """This deployment's identity, stamped on every backup (backup-deployment); default FN_APP_NAME/FN_FN_NAME."""

    max_concurrency: StrictInt = Field(16, ge=1, le=64)
    """Backups created at once for a multi-target trigger."""

    max_attempts: StrictInt = Field(5, ge=1, le=10)
    """Attempts per backup for throttling (429), server errors and dropped connections."""

    deadline_margin_seconds: StrictFloat = Field(1.0, ge=0.1, le=30)
    """The function answers this long before the invocation's deadline."""

    max_body_bytes: StrictInt = Field(1_048_576, ge=1024, le=1_048_576)
    """Largest request body accepted (at most 1 MiB: no trigger needs more, and memory is measured at it)."""

    max_json_depth: StrictInt = Field(32, ge=4, le=256)
    """Deepest JSON nesting accepted."""

    kms_key_id: KmsKeyId | None = None
    """Vault key every backup is encrypted with (default: the volume's own key)."""

    allowed_kms_key_ids: tuple[KmsKeyId, ...] = ()
    """Keys a manual request's kmsKeyId may name; any other key is refused."""

    defined_tag_namespaces: tuple[str, ...] = Field((), max_length=MAX_TAG_NAMESPACES)
    """Tag namespaces a request's definedTags may use (the deployment grants `use` on exactly these)."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Level of the function's own log lines."""

    metrics_namespace: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=255)
    """Monitoring namespace of the custom metrics posted after each invocation (enables them)."""

    metrics_compartment_id: CompartmentOcid | None = Field(None, validate_default=True)
    """Compartment the custom metrics are posted in (needed with BACKUP_METRICS_NAMESPACE)."""

    metrics_endpoint: str | None = Field(None, max_length=2048)
    """Monitoring telemetry-ingestion endpoint override (private endpoints, the local emulator)."""

    notify_topic_id: str | None = Field(
        None, pattern=r"^ocid1\.onstopic\.[a-z0-9]+\.[a-z0-9-]*\.[a-z0-9]+$", max_length=255
    )
    """Notifications topic a run with failures publishes a short summary to (enables it)."""

    notify_endpoint: str | None = Field(None, max_length=2048)
    """Notifications endpoint override (private endpoints, the local emulator)."""

    report_budget_seconds: StrictFloat = Field(2.0, ge=0.2, le=10)
    """Most seconds metrics and the failure summary may add to an invocation (never past its deadline)."""

    audit_rpo_hours: int = Field(24, ge=1, le=MAX_AUDIT_HOURS)
    """An audit finds a resource out of its RPO when its newest AVAILABLE backup is older than this."""

    audit_copy_grace_hours: int = Field(0, ge=0, le=MAX_AUDIT_HOURS)
    """Backups younger than this may still be without their copy: the audit's copy rule looks past them."""

    audit_digest: bool = False
    """Publish every audit's summary (a digest), not only audits that found violations."""

    audit_digest_topic_id: str | None = Field(
        None, pattern=r"^ocid1\.onstopic\.[a-z0-9]+\.[a-z0-9-]*\.[a-z0-9]+$", max_length=255, validate_default=True
    )
    """Notifications topic of the audit digest (default: BACKUP_NOTIFY_TOPIC_ID)."""

    restore_test_compartment_id: CompartmentOcid | None = None
    """Sandbox compartment restore tests create volumes in and delete them from (enables restore tests)."""

    restore_test_max: int = Field(1, ge=1, le=MAX_RESTORE_TESTS)
    """Most restore-test volumes that exist at once (each schedule tick starts at most this many)."""

    restore_test_every: str = Field("7d", max_length=6)
    """How often each volume's newest backup is restore-tested: <n>h, <n>d, <n>w, <n>mo or <n>y."""

    restore_test_ttl: str = Field("24h", max_length=5)
    """A restore not AVAILABLE after this long (<n>h or <n>d, at most 30d) fails and its volume is deleted."""

    full_every: str | None = Field(None, max_length=6)
    """A backup is FULL when this deployment's newest FULL one of the target is this much older (<n>h ... <n>y)."""

    copy_volume_tags: tuple[TagKey, ...] = Field((), max_length=MAX_COPIED_TAGS)
    """Free-form tag keys copied from the volume (boot volume, group) onto its backups (comma-separated or JSON)."""

    @field_validator("display_name_template")
    @classmethod
    def _plain_template(cls, template: str) -> str:
        """Only ``{field}`` substitutions: no format specs or conversions, which can fail or blow up later."""
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise ValueError("is not a valid template (unbalanced braces)") from exc
        fields = set()
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if spec or conversion:
                raise ValueError("may only use plain fields such as {time}, without format specs or conversions")
            fields.add(name)
        unknown = fields - DISPLAY_NAME_FIELDS
        if unknown:
            raise ValueError(f"uses unknown field(s) {sorted(unknown)}; known fields are {sorted(DISPLAY_NAME_FIELDS)}")
        try:
            template.format(**_SAMPLE_FIELDS)
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError("cannot be rendered") from exc
        return template

    @field_validator(
        "blockstorage_endpoint",
        "identity_endpoint",
        "invoke_endpoint",
        "copy_endpoint",
        "metrics_endpoint",
        "notify_endpoint",
    )
    @classmethod
    def _plain_endpoint(cls, endpoint: str | None) -> str | None:
        if endpoint is None:
            return None
        try:
            url = urlsplit(endpoint)
            url.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        except ValueError as exc:
            raise ValueError("must be an http(s) URL with a valid port") from exc
        if url.scheme not in ("http", "https") or not url.hostname or any(c.isspace() for c in endpoint):
            raise ValueError("must be an http(s) URL such as https://iaas.us-ashburn-1.oraclecloud.com")
        if url.username is not None or url.password is not None or url.query or url.fragment:
            raise ValueError("must not carry credentials, a query or a fragment")
        return endpoint

    @field_validator("targets", "allowed_kms_key_ids", "defined_tag_namespaces", "alarm_transitions", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item for item in value.replace(",", " ").split() if item)
        return value

    @field_validator("copy_volume_tags", mode="before")
    @classmethod
    def _tag_key_list(cls, value: Any) -> Any:
        """A JSON list of strings, or keys separated by commas (blanks around each key are not part of it)."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith(("[", "{", '"')):  # JSON: only a list of keys
            try:
                keys = json.loads(value)
            except ValueError as exc:
                raise ValueError('must be a JSON list of tag keys such as ["CostCenter", "Owner"]') from exc
            if not isinstance(keys, list):
                raise ValueError('must be a JSON list of tag keys such as ["CostCenter", "Owner"]')
            return keys
        keys = [key.strip() for key in value.split(",")]
        if any(not key for key in keys):
            raise ValueError("must be tag keys separated by commas, none empty, such as CostCenter,Owner")
        return keys

    @field_validator("copy_volume_tags")
    @classmethod
    def _copyable_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(keys)) != len(keys):
            raise ValueError("names a tag key twice")
        for key in keys:
            if key in RESERVED_TAGS:
                raise ValueError(f"names {key}, a tag the function sets itself (it always wins)")
        return keys

    @field_validator("freeform_tags", "selector", mode="before")
    @classmethod
    def _parse_json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except ValueError as exc:
                raise ValueError('must be a JSON object such as {"team": "storage"}') from exc
        return value

    @field_validator("freeform_tags")
    @classmethod
    def _no_reserved_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        """Configured tags never stamp a tag the function sets and reads back (its identity, marks, verdicts)."""
        if taken := sorted(key for key in tags if key in RESERVED_TAGS):
            raise ValueError(f"must not set {', '.join(taken)}: the function sets these tags itself")
        return tags

    @field_validator("audit_rpo_hours", "audit_copy_grace_hours", mode="before")
    @classmethod
    def _whole_hours(cls, value: Any) -> Any:
        """A number of hours as digits (from the environment) or an integer: never a float, bool or words."""
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError("must be a whole number of hours, such as 24")

    @field_validator(
        "retention_keep_last",
        "retention_max_age_days",
        "retention_max_deletes",
        "retention_max_deletes_per_volume",
        "retention_sweep_max_backups",
        "retention_min_keep",
        mode="before",
    )
    @classmethod
    def _retention_count(cls, value: Any) -> Any:
        """Digits (from the environment) or an integer: never a float, a bool, words or a sign."""
        if value is None:
            return None
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError("must be a whole number such as 7")

    @field_validator(*(f"retention_keep_{tier}" for tier in RETENTION_TIERS), mode="before")
    @classmethod
    def _tier_count(cls, value: Any) -> Any:
        """A number of periods as digits or an integer, or ``unlimited`` (also -1, restic's spelling)."""
        if value in ("unlimited", "-1"):
            return UNLIMITED_TIER
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError("must be a whole number of periods such as 7, or unlimited")

    @field_validator("retention_keep_within")
    @classmethod
    def _within_duration(cls, within: str | None) -> str | None:
        if within is not None and not re.fullmatch(KEEP_WITHIN_PATTERN, within):
            raise ValueError(
                "must be a duration of years, months, days and hours, each at most once and in that order, "
                "such as 2d, 36h or 1y6m (m is months, as in restic)"
            )
        return within

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        from backup_handler.vocabulary.zones import load_zone  # off the manual path's imports

        load_zone(name)  # raises ValueError with the problem
        return name

    @field_validator("retention_grace")
    @classmethod
    def _grace_duration(cls, grace: str | None) -> str | None:
        if grace is None:
            return None
        if not re.fullmatch(RETENTION_GRACE_PATTERN, grace):
            raise ValueError("must be <n>h or <n>d, such as 48h or 7d")
        if _hours(grace) > MAX_RETENTION_GRACE_HOURS:
            raise ValueError("must be at most 366d")
        return grace

    @model_validator(mode="after")
    def _max_age_leaves_room_for_the_tiers(self) -> Settings:
        """A max-age shorter than a tier's N periods would cut that tier short on every run: a contradiction."""
        if self.retention_max_age_days is None:
            return self
        for tier in RETENTION_TIERS:
            count = getattr(self, f"retention_keep_{tier}")
            if count == UNLIMITED_TIER or count * _TIER_DAYS[tier] > self.retention_max_age_days:
                kept = "a backup per period forever" if count == UNLIMITED_TIER else f"{count} {tier} backups"
                raise ValueError(
                    f"BACKUP_RETENTION_KEEP_{tier.upper()} keeps {kept}, but BACKUP_RETENTION_MAX_AGE_DAYS="
                    f"{self.retention_max_age_days} deletes every backup older than that: raise the max age or lower "
                    "the tier"
                )
        within = self.retention_keep_within
        if within is not None:
            days = sum(int(n) * _WITHIN_DAYS[unit] for n, unit in re.findall(r"([0-9]+)([ymdh])", within))
            if days > self.retention_max_age_days:
                raise ValueError(
                    f"BACKUP_RETENTION_KEEP_WITHIN={within} keeps backups longer than BACKUP_RETENTION_MAX_AGE_DAYS="
                    f"{self.retention_max_age_days} allows: raise the max age or shorten the duration"
                )
        return self

    @field_validator("audit_digest", mode="before")
    @classmethod
    def _true_or_false(cls, value: Any) -> Any:
        """Exactly true or false: "yes", "1" or "on" are refused, not guessed."""
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise ValueError('must be "true" or "false"')

    @model_validator(mode="before")
    @classmethod
    def _batch_size_within_max_targets(cls, data: Any) -> Any:
        """The default batch size is at most BACKUP_MAX_TARGETS; a batch size set above it is a contradiction."""
        if isinstance(data, dict) and "batch_size" not in data:
            max_targets = data.get("max_targets")
            if isinstance(max_targets, int) and not isinstance(max_targets, bool) and max_targets >= 1:
                return {**data, "batch_size": min(DEFAULT_BATCH_SIZE, max_targets)}
        return data

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Settings:
        found = self.contradictions()
        if not found:
            return self
        collected = info.context.get(CONTRADICTIONS) if isinstance(info.context, dict) else None
        if isinstance(collected, list):  # from_env reports them with the variables' names
            collected.extend(found)
            return self
        raise ValueError("; ".join(f"{first} {problem}" for first, _, problem in found))

    def contradictions(self) -> list[tuple[str, str, str]]:
        """Settings that contradict each other: (the setting, the one it contradicts, why), names as variables."""
        set_ = self.model_fields_set
        found: list[tuple[str, str, str]] = []

        def contradicts(first: str, second: str, problem: str) -> None:
            found.append((ENV_PREFIX + first.upper(), ENV_PREFIX + second.upper(), problem))

        for lock in ("retention_lock", "prevent_deletion"):
            if getattr(self, lock) and self.retention_period_days is None:
                contradicts(lock, "retention_period_days", "needs BACKUP_RETENTION_PERIOD_DAYS (how long it holds)")
        for copy_setting in ("copy_kms_key_id", "copy_endpoint"):
            if getattr(self, copy_setting) is not None and self.copy_region is None:
                contradicts(
                    copy_setting, "copy_region", "does nothing without BACKUP_COPY_REGION (the region copies go to)"
                )
        if self.batch_size > self.max_targets:
            contradicts(
                "batch_size",
                "max_targets",
                f"({self.batch_size}) is larger than BACKUP_MAX_TARGETS ({self.max_targets}): every batch would be "
                "refused; set BACKUP_BATCH_SIZE at most BACKUP_MAX_TARGETS",
            )
        if "batch_chains" in set_ and self.invoke_endpoint is None:
            contradicts("batch_chains", "invoke_endpoint", "does nothing without BACKUP_INVOKE_ENDPOINT (batches)")
        if (
            self.retention_max_age_days is not None
            and self.retention_period_days is not None
            and self.retention_max_age_days < self.retention_period_days
        ):
            contradicts(
                "retention_max_age_days",
                "retention_period_days",
                f"({self.retention_max_age_days} days) is shorter than BACKUP_RETENTION_PERIOD_DAYS "
                f"({self.retention_period_days}): no backup can be deleted that young",
            )
        if self.metrics_compartment_id is not None and self.metrics_namespace is None:
            contradicts("metrics_compartment_id", "metrics_namespace", "does nothing without BACKUP_METRICS_NAMESPACE")
        return found

    @field_validator("copy_region")
    @classmethod
    def _region_name(cls, region: str | None) -> str | None:
        if region is not None and not REGION_NAME.fullmatch(region):
            raise ValueError("must be an OCI region name such as us-ashburn-1 or us-gov-ashburn-1")
        return region

    @field_validator("defined_tag_namespaces")
    @classmethod
    def _tag_namespace_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not TAG_NAMESPACE_NAME.fullmatch(name):
                raise ValueError(
                    "must be tag namespace names (at most 100 characters; no spaces, periods, quotes or backslashes)"
                )
        return names

    @field_validator("audit_digest_topic_id")
    @classmethod
    def _digest_needs_a_topic(cls, topic: str | None, info: ValidationInfo) -> str | None:
        if topic is None and info.data.get("audit_digest") and not info.data.get("notify_topic_id"):
            raise ValueError("is needed with BACKUP_AUDIT_DIGEST=true when BACKUP_NOTIFY_TOPIC_ID is not set")
        return topic

    @field_validator("restore_test_every", "full_every")
    @classmethod
    def _every_is_a_cadence(cls, every: str | None) -> str | None:
        if every is not None and not re.fullmatch(RESTORE_TEST_EVERY_PATTERN, every):
            raise ValueError("must be <n>h, <n>d, <n>w, <n>mo or <n>y with n from 1 to 9999, such as 7d or 1mo")
        return every

    @field_validator("restore_test_ttl")
    @classmethod
    def _ttl_at_most_30_days(cls, ttl: str) -> str:
        if not re.fullmatch(RESTORE_TEST_TTL_PATTERN, ttl):
            raise ValueError("must be <n>h or <n>d, such as 24h or 2d")
        hours = int(ttl[:-1]) * (24 if ttl.endswith("d") else 1)
        if hours > MAX_RESTORE_TEST_TTL_HOURS:
            raise ValueError("must be at most 30d (a restore test volume costs money while it exists)")
        return ttl

    @field_validator("restore_test_max", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        """Digits only: ``2.0``, ``true`` or `` 2`` are refused, never read as 2."""
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError("must be a whole number such as 2")

    @field_validator("restore_test_max", "restore_test_every", "restore_test_ttl")
    @classmethod
    def _needs_a_sandbox(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("restore_test_compartment_id") is None and "restore_test_compartment_id" not in info.data:
            return value  # the compartment itself was refused: its own error says why
        if info.data.get("restore_test_compartment_id") is None:
            raise ValueError("needs BACKUP_RESTORE_TEST_COMPARTMENT_ID (the sandbox restore tests run in)")
        return value

    @field_validator("restore_test_compartment_id")
    @classmethod
    def _sandbox_is_not_backed_up(cls, sandbox: str | None, info: ValidationInfo) -> str | None:
        selector = info.data.get("selector")
        if sandbox is not None and isinstance(selector, Selector) and selector.compartment_id == sandbox:
            raise ValueError("is the compartment BACKUP_SELECTOR backs up; the sandbox's volumes are never backed up")
        return sandbox

    @field_validator("metrics_namespace")
    @classmethod
    def _custom_namespace(cls, namespace: str | None) -> str | None:
        if namespace is not None and namespace.lower().startswith(("oci_", "oracle_")):
            raise ValueError("must not start with oci_ or oracle_ (prefixes Monitoring reserves for its own metrics)")
        return namespace

    @field_validator("metrics_compartment_id")
    @classmethod
    def _metrics_need_a_compartment(cls, compartment: str | None, info: ValidationInfo) -> str | None:
        if compartment is None and info.data.get("metrics_namespace"):
            raise ValueError("is needed with BACKUP_METRICS_NAMESPACE (the compartment the metrics are posted in)")
        return compartment

    @property
    def reporting(self) -> bool:
        """Whether invocations post custom metrics or publish failure summaries."""
        return bool(self.metrics_namespace or self.notify_topic_id or self.audit_digest_topic_id)

    @property
    def retention(self) -> bool:
        """Whether any retention rule is configured (keep-last, a tier, keep-within or max-age)."""
        tiers = any(getattr(self, f"retention_keep_{tier}") for tier in RETENTION_TIERS)
        return bool(self.retention_keep_last or self.retention_max_age_days or self.retention_keep_within or tiers)

    @property
    def lifecycle(self) -> bool:
        """Whether backup-end events and schedule ticks have retention or copy work to do."""
        return self.retention or bool(self.copy_region)

    @property
    def retention_grace_hours(self) -> int | None:
        """BACKUP_RETENTION_GRACE in hours (None: deletion is not deferred)."""
        return _hours(self.retention_grace) if self.retention_grace else None

    @property
    def shapes_bodies(self) -> bool:
        """Whether each create's body depends on the target as it is now (the FULL cadence, copied volume tags)."""
        return bool(self.full_every or self.copy_volume_tags)

    @property
    def restore_tests(self) -> bool:
        """Whether schedule ticks restore-test backups in a sandbox compartment."""
        return self.restore_test_compartment_id is not None

    def retention_fields(self) -> dict[str, Any]:
        """What every create carries for immutability; only configuration sets it."""
        fields: dict[str, Any] = {}
        if self.retention_period_days:
            fields["retentionPeriod"] = {"retentionTimeUnit": "DAYS", "retentionTimeAmount": self.retention_period_days}
        if self.retention_lock:
            fields["isRetentionLockEnabled"] = True
        if self.prevent_deletion:
            fields["isPreventDeletionEnabled"] = True
        return fields

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read ``BACKUP_*`` variables; unknown ``BACKUP_*`` names are refused (they are typos)."""
        values = {
            name[len(ENV_PREFIX) :].lower(): value
            for name, value in environ.items()
            if name.startswith(ENV_PREFIX) and value != ""
        }
        values = {name: env_scalar(_SCALARS.get(name), value) for name, value in values.items()}
        if "deployment_id" not in values and (platform := platform_deployment_id(environ)) is not None:
            values["deployment_id"] = platform
        contradictions: list[tuple[str, str, str]] = []
        try:
            settings = cls.model_validate(values, context={CONTRADICTIONS: contradictions})
        except ValidationError as exc:
            problems = []
            for item in describe(exc).items:
                if item["field"] == "(body)":  # settings that contradict each other: the problem names them
                    named = dict.fromkeys(re.findall(r"BACKUP_[A-Z_]+[A-Z]", item["problem"]))
                    problems.append({"field": ", ".join(named) or "BACKUP_*", "problem": item["problem"]})
                    continue
                name = re.split(r"[.\[]", item["field"], maxsplit=1)[0]
                within = item["field"][len(name) :].lstrip(".")
                problem = f"{within}: {item['problem']}" if within else item["problem"]
                problems.append({"field": ENV_PREFIX + name.upper(), "problem": problem})
            raise ConfigurationError(
                "the function's configuration is invalid: "
                + "; ".join(
                    p["problem"] if p["problem"].startswith(ENV_PREFIX) else f"{p['field']} {p['problem']}"
                    for p in problems
                ),
                errors=problems,
            ) from None
        if contradictions:
            raise ConfigurationError(
                "the function's configuration contradicts itself: "
                + "; ".join(f"{first} {problem}" for first, _, problem in contradictions),
                errors=[
                    {"field": first, "problem": problem, "contradicts": second}
                    for first, second, problem in contradictions
                ],
            )
        return settings


CONTRADICTIONS = "contradictions"
Scalar = Literal["bool", "number"]


def _scalar_kind(annotation: Any) -> Scalar | None:
    """Whether a field's type is a boolean or a number, looking through ``X | None`` and ``Annotated``."""
    if get_origin(annotation) is Annotated:
        return _scalar_kind(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        kinds = {_scalar_kind(arg) for arg in get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if annotation is bool:
        return "bool"
    if annotation in (int, float):
        return "number"
    return None


_SCALARS: dict[str, Scalar] = {
    name: kind for name, field in Settings.model_fields.items() if (kind := _scalar_kind(field.annotation)) is not None
}


def env_scalar(kind: Scalar | None, text: str) -> Any:
    """A variable's text as the value of a boolean or number setting, by one strict rule.

    A boolean is exactly ``true`` or ``false``; a number is JSON number syntax (finite, no surrounding
    blanks), and an integer setting takes only an integer (``16``, not ``16.0`` or ``1e3``). Anything
    else is handed on as the text itself, which the setting's strict type refuses, naming the variable.
    """
    if kind == "bool":
        return {"true": True, "false": False}.get(text, text)
    if kind == "number":
        if text != text.strip():
            return text
        try:
            number = json.loads(text, parse_constant=lambda name: text)
        except ValueError:
            return text
        if isinstance(number, int) and not isinstance(number, bool):
            return number
        if isinstance(number, float) and math.isfinite(number):
            return number
        return text
    return text
