"""A local Block Storage API that behaves like the service, for tests, the runner and benchmarks.

It serves, over HTTP on loopback, the paths the function uses:

- ``POST /20160918/volumeBackups`` and ``POST /20160918/bootVolumeBackups`` (with the retention
  fields: ``retentionPeriod``, ``isRetentionLockEnabled``, ``isPreventDeletionEnabled``,
  ``isIndefiniteRetentionEnabled``)
- ``GET /20160918/volumeBackups[/{id}]``, ``GET /20160918/bootVolumeBackups[/{id}]``; the lists need
  ``compartmentId`` and filter by volume, lifecycle state, source backup and display name, sorted by
  ``TIMECREATED`` or ``DISPLAYNAME``
- ``DELETE`` and ``PUT /20160918/volumeBackups/{id}`` (and ``bootVolumeBackups``): delete
  (→ ``TERMINATED``) and update, both bound by retention locks; ``POST …/{id}/actions/copy`` copies
  a backup into another region's emulator linked with :meth:`~BlockStorageEmulator.add_region`
- ``GET /20160918/volumes[/{id}]`` and ``GET /20160918/bootVolumes[/{id}]``, filtered by compartment,
  availability domain, volume group and (volumes) lifecycle state
- ``POST /20160918/volumes`` and ``POST /20160918/bootVolumes`` restoring from a backup (``sourceDetails``),
  provisioning on the emulator's clock (:attr:`~BlockStorageEmulator.restore_seconds`; FAULTY with
  :meth:`~BlockStorageEmulator.fail_restores_of`), and ``DELETE`` of either (→ ``TERMINATED``); their
  ``createvolume.end`` / ``createbootvolume.begin`` events come from
  :meth:`~BlockStorageEmulator.volume_events`
- ``GET /20160918/volumeGroups[/{id}]``; ``POST /20160918/volumeGroupBackups`` (one member backup per
  volume), ``GET /20160918/volumeGroupBackups[/{id}]``, ``PUT`` (name, tags, retention) and ``DELETE`` (the
  members with their group)
- Identity's ``GET /20160918/compartments[/{id}]`` (children, or the tenancy's whole subtree)
- Monitoring's ``POST /20180401/metrics`` (PostMetricData, the telemetry-ingestion endpoint) and
  Notifications' ``POST /20181201/topics/{topicId}/messages`` (PublishMessage): other hosts in OCI,
  served here on their own base paths, signed, recorded and open to faults like every operation;
  what they received is read with :meth:`~BlockStorageEmulator.metrics` and
  :meth:`~BlockStorageEmulator.messages` (topics are added with :meth:`~BlockStorageEmulator.add_topic`)

Every list is paginated as the API does it (``limit`` up to 1000, ``page``, ``opc-next-page``). The
Functions invoke endpoint is a server of its own, :class:`localdev.functions.FunctionsEmulator`;
:func:`localdev.tenancy.seed_tenancy` fills the emulator with a large, tagged, deterministic tenancy.

and like the service it:

- verifies every request's HTTP signature (draft-cavage, rsa-sha256) with the session key
  carried in a genuine, unexpired, unrevoked resource-principal token (401 otherwise);
- checks ``x-content-sha256`` and ``content-length`` against the body it received;
- answers errors as ``{"code", "message"}`` with an ``opc-request-id`` header;
- 404s unknown volumes and groups, refuses a second backup of a volume (or group) while one is in
  progress, through its group or not (409 ``Conflict``), and keeps ``opc-retry-token`` semantics;
- answers 400 ``MissingParameter`` / ``InvalidParameter`` for a missing or malformed query parameter;
- optionally throttles bursts: above ``max_concurrent_creates`` creates (group backups included) at
  once, 429 ``TooManyRequests``; above ``max_concurrent_copies`` copies in progress, or a second copy
  of one boot volume's backups, the copy-limit refusal; a boot volume backup of an image not in
  ``platform_images`` is never copied;
- where OCI's answer is undocumented, gives the plausible one a test picks (:mod:`.variants`).

Faults are injected by schedule from the test's side (:meth:`BlockStorageEmulator.inject`):
``the next N creates answer 429/500/503``, ``drop the connection`` (before or after the
create is carried out), ``add latency``, ``answer with these raw bytes``. State is inspected
in-process (:meth:`~BlockStorageEmulator.backups`, :attr:`~BlockStorageEmulator.calls`);
there is no admin HTTP surface for a client to find. For lifecycle tests, backups made outside
the API are seeded with :meth:`~BlockStorageEmulator.add_backup`, simulated time passes with
:meth:`~BlockStorageEmulator.advance`, and backup-end events (CloudEvents 0.1) are collected with
:meth:`~BlockStorageEmulator.backup_end_events` / :meth:`~BlockStorageEmulator.on_backup_end`
(:class:`localdev.stack.BackupEndPump` delivers them from a thread).

Modules, one job each:

- :mod:`.service` — :class:`BlockStorageEmulator`: state, settings, lifecycle, test controls;
- :mod:`.server` — the HTTP server and the order a request meets signing, throttle, faults, operation;
- :mod:`.routes` — the routing table, (method, path pattern) → operation → handler;
- :mod:`.api` — the request, response and call-log shapes handlers and the server share, and
  query-parameter readers;
- :mod:`.signing` — HTTP signature verification;
- :mod:`.faults` — :class:`Fault` and how faults are matched and consumed;
- :mod:`.throttle` — the limit on concurrent creates;
- :mod:`.state` — the resources, one store per family;
- :mod:`.volumes`, :mod:`.restores` (volumes restored from backups, volume deletes),
  :mod:`.backups` (create, get, list), :mod:`.lifecycle` (delete, update),
  :mod:`.copies` (cross-region copies and their limit), :mod:`.groups` (volume groups and their
  backups), :mod:`.compartments` (Identity), :mod:`.monitoring` (custom metrics),
  :mod:`.notifications` (topics and their messages) — the resource families' stores and operations;
- :mod:`.retention` — retention fields, their checks and what a lock forbids;
- :mod:`.variants` — the answer given where OCI does not document its own;
- :mod:`.clock` — the emulator's clock, which tests move forward;
- :mod:`.events` — backup-end and volume events as OCI Events delivers them;
- :mod:`.pagination` — list pages.
"""

from localdev.emulator.api import Call
from localdev.emulator.faults import Fault
from localdev.emulator.service import BlockStorageEmulator

__all__ = ["BlockStorageEmulator", "Call", "Fault"]
