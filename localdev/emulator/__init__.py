"""A local Block Storage API that behaves like the service, for tests, the runner and benchmarks.

It serves, over HTTP on loopback, the paths the function uses:

- ``POST /20160918/volumeBackups`` and ``POST /20160918/bootVolumeBackups``
- ``GET /20160918/volumeBackups[/{id}]``, ``GET /20160918/bootVolumeBackups[/{id}]``
- ``GET /20160918/volumes[/{id}]`` and ``GET /20160918/bootVolumes[/{id}]``, filtered by compartment,
  availability domain, volume group and (volumes) lifecycle state
- ``GET /20160918/volumeGroups[/{id}]``; ``POST /20160918/volumeGroupBackups`` (one member backup per
  volume) and ``GET /20160918/volumeGroupBackups[/{id}]``
- Identity's ``GET /20160918/compartments[/{id}]`` (children, or the tenancy's whole subtree)

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
  once, 429 ``TooManyRequests``.

Faults are injected by schedule from the test's side (:meth:`BlockStorageEmulator.inject`):
``the next N creates answer 429/500/503``, ``drop the connection`` (before or after the
create is carried out), ``add latency``, ``answer with these raw bytes``. State is inspected
in-process (:meth:`~BlockStorageEmulator.backups`, :attr:`~BlockStorageEmulator.calls`);
there is no admin HTTP surface for a client to find.

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
- :mod:`.volumes`, :mod:`.backups`, :mod:`.groups` (volume groups and their backups),
  :mod:`.compartments` (Identity) — the resource families' stores and operations;
- :mod:`.pagination` — list pages.
"""

from localdev.emulator.api import Call
from localdev.emulator.faults import Fault
from localdev.emulator.service import BlockStorageEmulator

__all__ = ["BlockStorageEmulator", "Call", "Fault"]
