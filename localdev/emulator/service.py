"""The emulator itself: its resources and settings, lifecycle, test controls, and what the server asks of it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from localdev.credentials import COMPARTMENT, Identity
from localdev.emulator import copies, events, groups, restores, signing
from localdev.emulator.api import DEFAULT_REGION, Call, ErrorResponse, Request, Response, is_create
from localdev.emulator.backups import seed_backup
from localdev.emulator.clock import Clock, parse, stamp
from localdev.emulator.faults import Fault, FaultQueue
from localdev.emulator.routes import Route
from localdev.emulator.server import make_server
from localdev.emulator.state import State
from localdev.emulator.throttle import Throttle
from localdev.emulator.variants import Variants
from localdev.emulator.volumes import AD, PLATFORM_IMAGE


class BlockStorageEmulator:
    """The emulator; use as a context manager or call :meth:`start`/:meth:`stop`.

    Settings a test may change (:meth:`reset` restores them): ``in_progress_seconds`` (how long
    a new backup is ``CREATING``), ``latency_seconds`` (added to every request),
    ``page_size`` (list pages without ``limit``), ``extra_backup_fields`` (added to every new
    backup, as a newer API version might) and ``max_concurrent_creates`` (above it, a create
    answers 429 ``TooManyRequests``; None: no limit), ``copy_seconds`` (how long a cross-region
    copy is in progress), ``max_concurrent_copies`` (copies from this region in progress at once;
    beyond it, the copy-limit refusal), ``platform_images`` (images whose boot volumes' backups may be
    copied) and ``variants`` (:class:`~.variants.Variants`: the answer given where OCI's behaviour is
    undocumented).

    The emulator serves one ``region``; :meth:`add_region` links the emulator of another, where
    CopyVolumeBackup puts its copies. Its :attr:`clock` stamps what it makes and can be moved
    forward (:meth:`advance`); :meth:`reset` sets it back to the real time and unlinks regions.
    """

    in_progress_seconds: float
    latency_seconds: float
    page_size: int
    extra_backup_fields: dict[str, Any]
    copy_seconds: float
    max_concurrent_copies: int
    platform_images: set[str]
    variants: Variants

    def __init__(
        self, identity: Identity, host: str = "127.0.0.1", port: int = 0, *, region: str = DEFAULT_REGION
    ) -> None:
        self.identity = identity
        self.region = region
        self.clock = Clock()
        self._peers: dict[str, BlockStorageEmulator] = {}
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._lock = threading.RLock()
        self.state = State()  # for the operation handlers; tests use add_volume() and backups()
        self._faults = FaultQueue()
        self._throttle = Throttle(self._lock)
        self._revoked: set[str] = set()
        self.calls: list[Call] = []
        self.rejected_signatures = 0
        self.epoch = 0  # bumped by reset(): a request from before a reset is dropped, not applied
        self._default_settings()
        self._server = make_server(self, host, port)
        self._thread: threading.Thread | None = None

    def _default_settings(self) -> None:
        self.in_progress_seconds = 1.0
        self.latency_seconds = 0.0
        self.page_size = 100
        self.extra_backup_fields = {}  # fields a newer API version might add
        self.copy_seconds = 1.0
        self.max_concurrent_copies = 10
        # Images whose boot volumes' backups may be copied: platform images, and custom images built from them.
        self.platform_images = {PLATFORM_IMAGE}
        self.variants = Variants()  # the plausible answer given where OCI's behaviour is undocumented

    @property
    def max_concurrent_creates(self) -> int | None:
        return self._throttle.limit

    @max_concurrent_creates.setter
    def max_concurrent_creates(self, value: int | None) -> None:
        self._throttle.limit = value

    # ----------------------------------------------------------- lifecycle

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> BlockStorageEmulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> BlockStorageEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------- test controls

    def reset(self) -> None:
        """Forget every resource, call, fault, setting, linked region and backup-end callback, and set the
        clock back to the real time (requests still in flight are dropped)."""
        with self._lock:
            self.epoch += 1
            self.state = State()
            self._faults = FaultQueue()
            self._throttle.reset()
            self.calls = []
            self.rejected_signatures = 0
            self.clock = Clock()
            self._peers = {}
            self._listeners = []
            self._default_settings()

    def add_volume(
        self,
        volume_id: str,
        *,
        boot: bool = False,
        display_name: str | None = None,
        compartment_id: str = COMPARTMENT,
        availability_domain: str = AD,
        freeform_tags: Mapping[str, str] | None = None,
        defined_tags: Mapping[str, Mapping[str, Any]] | None = None,
        lifecycle_state: str = "AVAILABLE",
        volume_group_id: str | None = None,
        size_in_gbs: int | None = None,
        time_created: str | None = None,
        image_id: str | None = PLATFORM_IMAGE,
    ) -> None:
        """Add a volume (a boot volume, with ``boot``, of ``image_id``); ``volume_group_id`` only labels it (see
        add_volume_group)."""
        with self._lock:
            self.state.volumes.add(
                volume_id,
                image_id=image_id,
                boot=boot,
                display_name=display_name,
                compartment_id=compartment_id,
                availability_domain=availability_domain,
                freeform_tags=freeform_tags,
                defined_tags=defined_tags,
                lifecycle_state=lifecycle_state,
                volume_group_id=volume_group_id,
                size_in_gbs=size_in_gbs,
                time_created=time_created,
            )

    def change_volume(
        self, volume_id: str, *, freeform_tags: Mapping[str, str] | None = None, lifecycle_state: str | None = None
    ) -> None:
        """Change a volume (boot volume) as a person would: retag it, or mark it deleted (``TERMINATED``)."""
        with self._lock:
            volume = self.state.volumes.records[volume_id]
            if freeform_tags is not None:
                volume["freeformTags"] = dict(freeform_tags)
            if lifecycle_state is not None:
                volume["lifecycleState"] = lifecycle_state

    def forget_volume(self, volume_id: str) -> None:
        """Remove a volume altogether (deleted long enough ago that OCI no longer lists it)."""
        with self._lock:
            self.state.volumes.records.pop(volume_id, None)

    def add_volume_group(
        self,
        group_id: str,
        compartment_id: str,
        availability_domain: str,
        volume_ids: Sequence[str],
        freeform_tags: Mapping[str, str] | None = None,
        defined_tags: Mapping[str, Mapping[str, Any]] | None = None,
        display_name: str | None = None,
    ) -> None:
        """Group volumes already added (either kind); each member's ``volumeGroupId`` becomes ``group_id``."""
        with self._lock:
            self.state.groups.add(
                self.state.volumes,
                group_id,
                compartment_id,
                availability_domain,
                volume_ids,
                freeform_tags=freeform_tags,
                defined_tags=defined_tags,
                display_name=display_name,
            )

    def add_compartment(
        self, compartment_id: str, parent_id: str, name: str, *, lifecycle_state: str = "ACTIVE"
    ) -> None:
        """Add a compartment below the tenancy or a compartment already added."""
        with self._lock:
            self.state.compartments.add(compartment_id, parent_id, name, lifecycle_state=lifecycle_state)

    def add_topic(self, topic_id: str) -> None:
        """Add a Notifications topic that PublishMessage can publish to."""
        with self._lock:
            self.state.topics.add(topic_id)

    def messages(self, topic_id: str) -> list[dict[str, Any]]:
        """What was published to a topic, oldest first (``messageId``, ``timeStamp``, ``title``, ``body``)."""
        with self._lock:
            return [dict(message) for message in self.state.topics.messages.get(topic_id, [])]

    def metrics(self) -> list[dict[str, Any]]:
        """Every custom metric item PostMetricData accepted, in the order posted."""
        with self._lock:
            return [dict(item) for item in self.state.metrics.items]

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each is consumed by the next request it matches, in order."""
        with self._lock:
            self._faults.extend(faults)

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def revoke(self, jti: str) -> None:
        """Stop accepting a session token (as after the platform rotates credentials)."""
        with self._lock:
            self._revoked.add(jti)

    def add_region(self, peer: BlockStorageEmulator) -> None:
        """Link the emulator of another region: copies to ``peer.region`` go to it (one way)."""
        if peer.region == self.region:
            raise ValueError(f"{peer.region} is this emulator's own region")
        with self._lock:
            self._peers[peer.region] = peer

    def advance(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> None:
        """Move the clock forward (new backups' ``timeCreated``, retention expiry, event times)."""
        self.clock.advance(timedelta(days=days, hours=hours, seconds=seconds))

    def add_backup(
        self,
        volume_id: str,
        *,
        time_created: datetime | str | None = None,
        display_name: str | None = None,
        freeform_tags: Mapping[str, str] | None = None,
        defined_tags: Mapping[str, Mapping[str, Any]] | None = None,
        source_type: str = "MANUAL",
        lifecycle_state: str = "AVAILABLE",
        backup_type: str = "INCREMENTAL",
        expiration_time: datetime | str | None = None,
        retention_period: Mapping[str, Any] | None = None,
        is_retention_lock_enabled: bool = False,
        is_prevent_deletion_enabled: bool = False,
        is_indefinite_retention_enabled: bool = False,
        source_backup_id: str | None = None,
        compartment_id: str | None = None,
        boot: bool = False,
        kms_key_id: str | None = None,
        unique_size_in_gbs: int | None = None,
    ) -> str:
        """Add a backup made outside the API (by a person, a backup policy, a copy); its OCID.

        ``time_created`` defaults to the clock's now. The volume need not exist (backups outlive
        their volumes); when it does, its kind, compartment and size are taken from it, else ``boot``
        and ``compartment_id`` (the local compartment by default) say them. A SCHEDULED backup is
        one a policy made: give its ``expiration_time``. ``source_backup_id`` marks a copy.
        ``unique_size_in_gbs`` overrides what the backup stores (by default: all of the volume for
        a FULL backup, a tenth for an INCREMENTAL one).
        """
        expiration = expiration_time.isoformat() if isinstance(expiration_time, datetime) else expiration_time
        with self._lock:
            known = self.state.volumes.records.get(volume_id)
            volume = {
                "id": volume_id,
                "boot": known["boot"] if known else boot,
                "compartmentId": compartment_id or (known["compartmentId"] if known else COMPARTMENT),
                "displayName": known["displayName"] if known else volume_id.rsplit(".", 1)[-1][:16],
                "sizeInGBs": known["sizeInGBs"] if known else (50 if boot else 100),
                "imageId": known.get("imageId") if known else PLATFORM_IMAGE,
            }
            sizes = {} if unique_size_in_gbs is None else {"uniqueSizeInGBs": unique_size_in_gbs}
            if unique_size_in_gbs is not None:
                sizes["uniqueSizeInMbs"] = unique_size_in_gbs * 1024
            body: dict[str, Any] = {
                "displayName": display_name,
                "type": backup_type,
                "freeformTags": freeform_tags,
                "definedTags": defined_tags,
                "kmsKeyId": kms_key_id,
                "retentionPeriod": retention_period,
                "isRetentionLockEnabled": is_retention_lock_enabled,
                "isPreventDeletionEnabled": is_prevent_deletion_enabled,
                "isIndefiniteRetentionEnabled": is_indefinite_retention_enabled,
            }
            source_field = "sourceBootVolumeBackupId" if volume["boot"] else "sourceVolumeBackupId"
            return seed_backup(
                self,
                volume,
                body,
                time_created=time_created,
                source_type=source_type,
                lifecycle_state=lifecycle_state,
                extra={"expirationTime": expiration, source_field: source_backup_id, **sizes},
            )

    def add_volume_group_backup(
        self,
        group_id: str,
        *,
        time_created: datetime | str | None = None,
        freeform_tags: Mapping[str, str] | None = None,
        source_type: str = "MANUAL",
        lifecycle_state: str = "AVAILABLE",
        backup_type: str = "INCREMENTAL",
        retention_period: Mapping[str, Any] | None = None,
        is_retention_lock_enabled: bool = False,
    ) -> str:
        """Add a volume group backup made outside the API (a person, a policy), with one backup per member."""
        created = time_created.isoformat() if isinstance(time_created, datetime) else time_created
        body: dict[str, Any] = {
            "type": backup_type,
            "freeformTags": dict(freeform_tags or {}),
            "retentionPeriod": retention_period,
            "isRetentionLockEnabled": is_retention_lock_enabled,
        }
        with self._lock:
            return groups.seed_group_backup(
                self,
                group_id,
                body,
                time_created=created or self.clock.stamp(),
                source_type=source_type,
                lifecycle_state=lifecycle_state,
            )

    def add_group_backup(
        self,
        group_id: str,
        *,
        time_created: datetime | str | None = None,
        display_name: str | None = None,
        freeform_tags: Mapping[str, str] | None = None,
        lifecycle_state: str = "AVAILABLE",
        retention_period: Mapping[str, Any] | None = None,
        is_retention_lock_enabled: bool = False,
        is_prevent_deletion_enabled: bool = False,
    ) -> str:
        """Add a volume group backup of a group already added, and its member backups (made earlier, or by a
        person); its OCID. Members carry the group's tags as ``variants.members_carry_group_tags`` says."""
        created = time_created.isoformat() if isinstance(time_created, datetime) else time_created
        body: dict[str, Any] = {
            "displayName": display_name,
            "freeformTags": dict(freeform_tags or {}),
            "retentionPeriod": retention_period,
            "isRetentionLockEnabled": is_retention_lock_enabled,
            "isPreventDeletionEnabled": is_prevent_deletion_enabled,
        }
        with self._lock:
            return groups.seed_group_backup(
                self,
                group_id,
                {name: value for name, value in body.items() if value is not None},
                time_created=stamp(parse(created)) if created else self.clock.stamp(),
                lifecycle_state=lifecycle_state,
            )

    def on_backup_end(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback`` with each backup-end event that :meth:`backup_end_events` finds."""
        with self._lock:
            self._listeners.append(callback)

    def backup_end_events(self) -> list[dict[str, Any]]:
        """Backup-end events (CloudEvents 0.1) for backups created through the API that have become
        ``AVAILABLE`` since the last call, oldest first (members of group backups and group backups as
        ``variants`` say); each is also handed to every :meth:`on_backup_end` callback (outside the
        emulator's lock)."""
        with self._lock:
            ended = self.state.backups.ended(self.in_progress_seconds)
            groups = self.state.groups.ended(self.in_progress_seconds)
            if self.variants.group_announces_end:
                ended += groups
            found = [events.backup_end(backup, self.clock.stamp()) for backup in ended]
            listeners = list(self._listeners)
        for event in found:
            for listener in listeners:
                listener(event)
        return found

    @property
    def restore_seconds(self) -> float:
        """How long a volume restored from a backup is PROVISIONING, in seconds of the emulator's clock."""
        with self._lock:
            return self.state.restores.seconds

    @restore_seconds.setter
    def restore_seconds(self, value: float) -> None:
        with self._lock:
            self.state.restores.seconds = value

    def fail_restores_of(self, backup_or_volume_id: str) -> None:
        """Make every later restore of this backup (of a volume: of any of its backups) end FAULTY."""
        with self._lock:
            self.state.restores.fail_restores_of(backup_or_volume_id)

    def volume_events(self) -> list[dict[str, Any]]:
        """Volume events (CloudEvents 0.1) since the last call, oldest first: ``createvolume.end`` for each
        volume restored through the API that stopped provisioning, ``createbootvolume.begin`` for each boot
        volume whose restore started."""
        with self._lock:
            return restores.announced(self)

    def volumes(self) -> list[dict[str, Any]]:
        """Every volume and boot volume (terminated ones too) as the API shows it now."""
        with self._lock:
            restores.settle(self)
            return [{k: v for k, v in volume.items() if k != "boot"} for volume in self.state.volumes.records.values()]

    def delete_backup(self, backup_id: str) -> None:
        """Delete a backup; a retry token that created it is then invalidated."""
        with self._lock:
            self.state.backups.delete(backup_id)

    def retag_backup(self, backup_id: str, freeform_tags: Mapping[str, str]) -> None:
        """Replace a backup's free-form tags, as anyone with ``use volume-backups`` can."""
        with self._lock:
            self.state.backups.records[backup_id]["freeformTags"] = dict(freeform_tags)

    def terminate(self, backup_id: str, state: str = "TERMINATED") -> None:
        """Set a backup's state as if deleted (or turned ``FAULTY``) outside the function; it stays listed."""
        with self._lock:
            self.state.backups.records[backup_id]["lifecycleState"] = state

    def backups(self) -> list[dict[str, Any]]:
        with self._lock:
            store = self.state.backups
            return [store.view(backup_id, self.in_progress_seconds) for backup_id in store.records]

    def volume_group_backups(self) -> list[dict[str, Any]]:
        with self._lock:
            store = self.state.groups
            return [store.view(backup_id, self.in_progress_seconds) for backup_id in store.backups]

    def creates(self) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if is_create(call.operation)]

    def creates_in_flight(self) -> int:
        """Create requests admitted and not yet answered (what ``max_concurrent_creates`` limits)."""
        return self._throttle.in_flight

    # ------------------------------------------------- serving (the server's)

    def peer(self, region: str) -> BlockStorageEmulator | None:
        with self._lock:
            return self._peers.get(region)

    def accept_copy(self, source: Mapping[str, Any], body: Mapping[str, Any], seconds: float) -> dict[str, Any]:
        """Start a copy of another region's backup here; 503 when this region stays busy too long."""
        if not self._lock.acquire(timeout=10):  # two regions copying to each other at the same instant
            raise ErrorResponse(503, "ServiceUnavailable", f"Region {self.region} is busy")
        try:
            return copies.receive(self, source, body, seconds)
        finally:
            self._lock.release()

    def authenticate(self, method: str, target: str, headers: dict[str, str], body: bytes) -> str | None:
        """None when the request is signed by a genuine session; else why not (and it is counted)."""
        why = signing.verify(self.identity, self._revoked, method, target, headers, body)
        if why is not None:
            with self._lock:
                self.rejected_signatures += 1
        return why

    @contextmanager
    def create_slot(self) -> Iterator[bool]:
        """A slot among ``max_concurrent_creates`` for the ``with`` block; False when none is free."""
        with self._throttle.slot() as admitted:
            yield admitted

    def take_fault(self, operation: str) -> Fault | None:
        with self._lock:
            return self._faults.take(operation)

    def perform(self, route: Route, request: Request) -> Response:
        """Carry out an operation against the resources."""
        with self._lock:
            try:
                return route.handler(self, request)
            except ErrorResponse as refused:
                return refused.response

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
