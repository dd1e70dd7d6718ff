"""The OCI APIs the function calls: one declarative table of operations over the SDK's ``BaseClient``.

Each row of :data:`OPERATIONS` names an operation as the API does, its service,
method, path and response type, the features that call it and the IAM permissions
it needs (the deployment's policies are derived from them). :class:`OciApi` builds
one ``BaseClient`` per service, lazily and once, signed as the function's resource principal, and
drives every operation through the same path: signing, the SDK's error parsing,
a retry strategy bounded by the caller's budget, and pagination
(``opc-next-page``) for list operations. The API's JSON comes back as sent
(``skip_deserialization``), so no ``oci.core.models`` class is imported.

Why not the generated clients: ``BlockstorageClient`` imports all ~1,000
``oci.core.models`` classes (+0.17 s and +22 MB per cold start here) to build
objects the function would only turn back into JSON.

Retries are bounded by the invocation's deadline, never the SDK's 600 s default,
and the SDK's circuit breaker is off: its default one is shared by every client
in the process and, after 10 transient failures, fails every call for 30 s
without asking the API (../shared/reference/oci-platform-facts.md §3).

Error bodies pass through only as OCI's error JSON (a well-formed code, a bounded
message): a proxy's HTML page never reaches a caller.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from backup_handler import logs
from backup_handler.errors import ApiError, ConfigurationError, CredentialsError, InvalidResponse, NetworkError
from backup_handler.settings import Settings

if TYPE_CHECKING:
    from oci.base_client import BaseClient

logger = logging.getLogger(__name__)

Service = Literal["blockstorage", "identity", "functions", "copies", "monitoring", "notifications"]
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 20.0
_RETRY_BASE_SLEEP_SECONDS = 0.25
_RETRY_MAX_SLEEP_SECONDS = 4.0
# OCI error codes are CamelCase words (NotAuthorizedOrNotFound, TooManyRequests, ...).
_ERROR_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,63}$")
MAX_ERROR_MESSAGE_CHARS = 512
# A list page larger than this is not what the API sends; the most items a page may hold (OCI's maximum limit).
MAX_PAGE_ITEMS = 1000
# No listing the function makes needs more pages than this (10,000 pages of 1,000 items).
MAX_PAGES = 10_000


@dataclass(frozen=True)
class ServiceSpec:
    """How to reach one OCI service: the SDK's endpoint template and the setting that overrides it."""

    name: str
    endpoint_service_name: str
    endpoint_template: str
    base_path: str
    endpoint_setting: str
    timeout_setting: str | None = None
    """The setting whose seconds bound each request (connect and read); the defaults when None."""


SERVICES: dict[Service, ServiceSpec] = {
    "blockstorage": ServiceSpec(
        "blockstorage",
        "iaas",
        "https://iaas.{region}.{dualStack?ds.oci.:}{secondLevelDomain}",
        "/20160918",
        "blockstorage_endpoint",
    ),
    "identity": ServiceSpec(
        "identity", "identity", "https://identity.{region}.oci.{secondLevelDomain}", "/20160918", "identity_endpoint"
    ),
    # Block Storage in BACKUP_COPY_REGION, where cross-region copies land (listed and pruned there).
    "copies": ServiceSpec(
        "blockstorage",
        "iaas",
        "https://iaas.{region}.{dualStack?ds.oci.:}{secondLevelDomain}",
        "/20160918",
        "copy_endpoint",
    ),
    # A function's invoke endpoint is its application's own host (GetFunction's invokeEndpoint): configured.
    # API version /20181201, although the SDK 2.189 generated client calls /20260325 (OCI serves both):
    # /20181201 is the version Functions has served since it opened and the SDKs, CLI and Terraform provider
    # called until the 2026 version, so it answers in every region and realm the function may run in, one
    # that has not taken up the newer version yet included. The request is the same in both (path after the
    # version, fn-invoke-type, body); the only thing the SDK's 20260325 InvokeFunction adds is an optional
    # is-dry-run header, which the function does not send (tests/oci/test_api_matches_sdk.py compares them).
    "functions": ServiceSpec(
        "functions_invoke",
        "functions",
        "https://functions.{region}.oci.{secondLevelDomain}",
        "/20181201",
        "invoke_endpoint",
    ),
    # PostMetricData is served by the telemetry-ingestion host, not Monitoring's telemetry one.
    "monitoring": ServiceSpec(
        "monitoring",
        "telemetry-ingestion",
        "https://telemetry-ingestion.{region}.{secondLevelDomain}",
        "/20180401",
        "metrics_endpoint",
        "report_budget_seconds",
    ),
    "notifications": ServiceSpec(
        "notification_data_plane",
        "notification",
        "https://notification.{region}.{secondLevelDomain}",
        "/20181201",
        "notify_endpoint",
        "report_budget_seconds",
    ),
}


Feature = Literal[
    "backups",
    "groups",
    "selectors",
    "subcompartments",
    "batches",
    "retention",
    "copies",
    "metrics",
    "notifications",
    "definedTags",
    "audit",
    "restoreTests",
    "fullCadence",
    "copyTags",
]
Method = Literal["GET", "POST", "PUT", "DELETE"]
"""What configuration turns on: the deployment grants each enabled feature what its operations need."""

Permission = str
"""An IAM permission as Oracle's policy reference names it (``VOLUME_BACKUP_CREATE``)."""

# Applying a defined tag needs `use tag-namespaces` on its namespace (free-form tags need nothing more).
DEFINED_TAG_PERMISSIONS: frozenset[Permission] = frozenset({"TAG_NAMESPACE_USE"})


@dataclass(frozen=True)
class Operation:
    """One API operation, as the SDK's generated client would call it, and what lets the function call it.

    ``features`` are the configuration that makes the function call it (any of them), and
    ``permissions`` every IAM permission Oracle's policy reference lists for it, in the region the
    call is sent to (``destination_permissions``: also in the region a copy is made in). ``extra``
    adds permissions a feature makes some calls need (a body with defined tags). The deployment's
    policies are derived from these (``python -m localdev.iam``), narrowed to exactly these permissions.
    """

    name: str
    service: Service
    method: Method
    path: str
    response_type: str | None
    sdk_name: str
    features: tuple[Feature, ...]
    permissions: frozenset[Permission]
    destination_permissions: frozenset[Permission] = frozenset()
    extra: tuple[tuple[Feature, frozenset[Permission]], ...] = ()
    sandbox_permissions: frozenset[Permission] = frozenset()
    """What a restore test needs in its sandbox compartment (BACKUP_RESTORE_TEST_COMPARTMENT_ID), apart from the
    backups' compartment: only the ``restoreTests`` feature calls into the sandbox."""
    mutating: bool = False

    def called(self, features: Collection[Feature]) -> bool:
        """Whether a configuration with these features calls the operation."""
        return any(feature in features for feature in self.features)

    def needs(self, features: Collection[Feature]) -> frozenset[Permission]:
        """The permissions a call needs under a configuration with these features, in any region."""
        needed = set(self.permissions | self.destination_permissions)
        if "restoreTests" in features:
            needed |= self.sandbox_permissions
        for feature, permissions in self.extra:
            if feature in features:
                needed |= permissions
        return frozenset(needed)


def _op(
    name: str,
    service: Service,
    method: Method,
    path: str,
    response_type: str | None,
    features: Feature | tuple[Feature, ...],
    permissions: Collection[Permission],
    *,
    destination: Collection[Permission] = (),
    sandbox: Collection[Permission] = (),
    tagged: bool = False,
    sdk_name: str | None = None,
) -> Operation:
    return Operation(
        name,
        service,
        method,
        path,
        response_type,
        sdk_name or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(),
        (features,) if isinstance(features, str) else features,
        frozenset(permissions),
        frozenset(destination),
        (("definedTags", DEFINED_TAG_PERMISSIONS),) if tagged else (),
        frozenset(sandbox),
        mutating=method != "GET",
    )


LIFECYCLE: tuple[Feature, ...] = ("retention", "copies")
# The coverage audit lists backups (and, with copies on, the copy region's) per compartment; it never writes.
READS_BACKUPS: tuple[Feature, ...] = (*LIFECYCLE, "audit")
# Restore tests read the backups they restore and record the result on them.
RESTORES: tuple[Feature, ...] = (*READS_BACKUPS, "restoreTests")
# BACKUP_FULL_EVERY lists a target's backups (newest first) before its create, and reads an explicit target for
# its compartment; BACKUP_COPY_VOLUME_TAGS reads an explicit target for its tags. A volume group target is a
# "groups" deployment's, which already reads groups and lists their backups.
SHAPES: tuple[Feature, ...] = ("fullCadence", "copyTags")

# Permissions: Oracle's "Permissions Required for Each API Operation" (Core Services, IAM, Functions,
# Monitoring, Notifications) and the Block Volume copy pages, vendored with their sources in
# deploy/iam/oracle-api-permissions.json; tests/deploy/test_least_privilege.py checks each row against it.
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        _op(
            "CreateVolumeBackup",
            "blockstorage",
            "POST",
            "/volumeBackups",
            "VolumeBackup",
            "backups",
            {"VOLUME_BACKUP_CREATE", "VOLUME_WRITE"},
            tagged=True,
        ),
        _op(
            "CreateBootVolumeBackup",
            "blockstorage",
            "POST",
            "/bootVolumeBackups",
            "BootVolumeBackup",
            "backups",
            {"BOOT_VOLUME_BACKUP_CREATE", "VOLUME_WRITE"},
            tagged=True,
        ),
        # Oracle lists the member backups' create as VOLUME_BACKUP_CREATE/BOOT_VOLUME_BACKUP_CREATE (by the
        # member's kind): a group may hold both kinds, so both.
        _op(
            "CreateVolumeGroupBackup",
            "blockstorage",
            "POST",
            "/volumeGroupBackups",
            "VolumeGroupBackup",
            "groups",
            {
                "VOLUME_GROUP_BACKUP_CREATE",
                "VOLUME_GROUP_INSPECT",
                "VOLUME_WRITE",
                "VOLUME_BACKUP_CREATE",
                "BOOT_VOLUME_BACKUP_CREATE",
            },
            tagged=True,
        ),
        # Retention's orphan sweep lists a compartment's volumes (boot volumes, groups) once, to tell a deleted or
        # no longer selected source from a selected one.
        _op(
            "ListVolumes",
            "blockstorage",
            "GET",
            "/volumes",
            "list[Volume]",
            ("selectors", "audit", "restoreTests", "retention"),
            {"VOLUME_INSPECT"},
            sandbox={"VOLUME_INSPECT"},
        ),
        _op(
            "ListBootVolumes",
            "blockstorage",
            "GET",
            "/bootVolumes",
            "list[BootVolume]",
            ("selectors", "audit", "restoreTests", "retention"),
            {"VOLUME_INSPECT"},
            sandbox={"VOLUME_INSPECT"},
        ),
        _op(
            "ListVolumeGroups",
            "blockstorage",
            "GET",
            "/volumeGroups",
            "list[VolumeGroup]",
            ("groups", "retention"),
            {"VOLUME_GROUP_INSPECT"},
        ),
        _op(
            "ListVolumeGroupBackups",
            "blockstorage",
            "GET",
            "/volumeGroupBackups",
            "list[VolumeGroupBackup]",
            # groups: whether a group's own backup is in progress when a create is refused with 409 Conflict.
            ("retention", "audit", "groups"),
            {"VOLUME_GROUP_BACKUP_INSPECT"},
        ),
        _op(
            "ListCompartments",
            "identity",
            "GET",
            "/compartments",
            "list[Compartment]",
            "subcompartments",
            {"COMPARTMENT_INSPECT"},
        ),
        # The SDK (2.189) calls InvokeFunction at /20260325; this table keeps /20181201 (see SERVICES).
        _op(
            "InvokeFunction",
            "functions",
            "POST",
            "/functions/{functionId}/actions/invoke",
            None,
            "batches",
            {"FN_INVOCATION"},
        ),
        # Lifecycle: a backup-end event reads the backup and lists its volume's backups for retention
        # and for copies alike; deleting is retention's only (in the copy region too, when copies are on).
        _op(
            "ListVolumeBackups",
            "blockstorage",
            "GET",
            "/volumeBackups",
            "list[VolumeBackup]",
            (*RESTORES, "fullCadence"),
            {"VOLUME_BACKUP_INSPECT", "VOLUME_INSPECT"},
        ),
        _op(
            "ListBootVolumeBackups",
            "blockstorage",
            "GET",
            "/bootVolumeBackups",
            "list[BootVolumeBackup]",
            (*RESTORES, "fullCadence"),
            {"BOOT_VOLUME_BACKUP_INSPECT", "VOLUME_INSPECT"},
        ),
        _op(
            "GetVolumeBackup",
            "blockstorage",
            "GET",
            "/volumeBackups/{volumeBackupId}",
            "VolumeBackup",
            (*LIFECYCLE, "restoreTests"),
            {"VOLUME_BACKUP_INSPECT", "VOLUME_INSPECT"},
        ),
        _op(
            "GetBootVolumeBackup",
            "blockstorage",
            "GET",
            "/bootVolumeBackups/{bootVolumeBackupId}",
            "BootVolumeBackup",
            (*LIFECYCLE, "restoreTests"),
            {"BOOT_VOLUME_BACKUP_INSPECT", "VOLUME_INSPECT"},
        ),
        _op(
            "DeleteVolumeBackup",
            "blockstorage",
            "DELETE",
            "/volumeBackups/{volumeBackupId}",
            None,
            "retention",
            {"VOLUME_BACKUP_DELETE", "VOLUME_INSPECT"},
        ),
        _op(
            "DeleteBootVolumeBackup",
            "blockstorage",
            "DELETE",
            "/bootVolumeBackups/{bootVolumeBackupId}",
            None,
            "retention",
            {"BOOT_VOLUME_BACKUP_DELETE", "VOLUME_INSPECT"},
        ),
        # A copy is asked of the source region and created in the destination region.
        _op(
            "CopyVolumeBackup",
            "blockstorage",
            "POST",
            "/volumeBackups/{volumeBackupId}/actions/copy",
            "VolumeBackup",
            "copies",
            {"VOLUME_BACKUP_READ", "VOLUME_BACKUP_COPY"},
            destination={"VOLUME_BACKUP_CREATE"},
        ),
        _op(
            "CopyBootVolumeBackup",
            "blockstorage",
            "POST",
            "/bootVolumeBackups/{bootVolumeBackupId}/actions/copy",
            "BootVolumeBackup",
            "copies",
            {"BOOT_VOLUME_BACKUP_READ", "BOOT_VOLUME_BACKUP_COPY"},
            destination={"BOOT_VOLUME_BACKUP_CREATE"},
        ),
        # The same operations, sent to BACKUP_COPY_REGION.
        _op(
            "ListCopiedVolumeBackups",
            "copies",
            "GET",
            "/volumeBackups",
            "list[VolumeBackup]",
            "copies",
            {"VOLUME_BACKUP_INSPECT", "VOLUME_INSPECT"},
            sdk_name="list_volume_backups",
        ),
        _op(
            "ListCopiedBootVolumeBackups",
            "copies",
            "GET",
            "/bootVolumeBackups",
            "list[BootVolumeBackup]",
            "copies",
            {"BOOT_VOLUME_BACKUP_INSPECT", "VOLUME_INSPECT"},
            sdk_name="list_boot_volume_backups",
        ),
        # Called only when retention and copies are both on: retention's permissions, in the copy region.
        _op(
            "DeleteCopiedVolumeBackup",
            "copies",
            "DELETE",
            "/volumeBackups/{volumeBackupId}",
            None,
            "retention",
            {"VOLUME_BACKUP_DELETE", "VOLUME_INSPECT"},
            sdk_name="delete_volume_backup",
        ),
        _op(
            "DeleteCopiedBootVolumeBackup",
            "copies",
            "DELETE",
            "/bootVolumeBackups/{bootVolumeBackupId}",
            None,
            "retention",
            {"BOOT_VOLUME_BACKUP_DELETE", "VOLUME_INSPECT"},
            sdk_name="delete_boot_volume_backup",
        ),
        # Restore tests. Volumes are created in, read in and deleted from the sandbox compartment only
        # (BACKUP_RESTORE_TEST_COMPARTMENT_ID: `sandbox`); reading the source backup (VOLUME_BACKUP_READ) and
        # recording the result on it (VOLUME_BACKUP_UPDATE) are in the backups' own compartment, and so is
        # GetVolume of the source volume (its availability domain).
        _op(
            "CreateVolume",
            "blockstorage",
            "POST",
            "/volumes",
            "Volume",
            "restoreTests",
            {"VOLUME_BACKUP_READ"},
            sandbox={"VOLUME_CREATE"},
        ),
        _op(
            "CreateBootVolume",
            "blockstorage",
            "POST",
            "/bootVolumes",
            "BootVolume",
            "restoreTests",
            {"BOOT_VOLUME_BACKUP_READ"},
            sandbox={"VOLUME_CREATE"},
        ),
        _op(
            "GetVolume",
            "blockstorage",
            "GET",
            "/volumes/{volumeId}",
            "Volume",
            (*LIFECYCLE, "restoreTests", *SHAPES),
            {"VOLUME_INSPECT"},
            sandbox={"VOLUME_INSPECT"},
        ),
        _op(
            "GetBootVolume",
            "blockstorage",
            "GET",
            "/bootVolumes/{bootVolumeId}",
            "BootVolume",
            (*LIFECYCLE, "restoreTests", *SHAPES),
            {"VOLUME_INSPECT"},
            sandbox={"VOLUME_INSPECT"},
        ),
        _op(
            "DeleteVolume",
            "blockstorage",
            "DELETE",
            "/volumes/{volumeId}",
            None,
            "restoreTests",
            (),
            sandbox={"VOLUME_DELETE"},
        ),
        _op(
            "DeleteBootVolume",
            "blockstorage",
            "DELETE",
            "/bootVolumes/{bootVolumeId}",
            None,
            "restoreTests",
            (),
            sandbox={"VOLUME_DELETE"},
        ),
        # Retention with a grace period marks a due backup (and unmarks it) with its free-form tags.
        _op(
            "UpdateVolumeBackup",
            "blockstorage",
            "PUT",
            "/volumeBackups/{volumeBackupId}",
            "VolumeBackup",
            ("restoreTests", "retention"),
            {"VOLUME_BACKUP_UPDATE", "VOLUME_INSPECT"},
        ),
        _op(
            "UpdateBootVolumeBackup",
            "blockstorage",
            "PUT",
            "/bootVolumeBackups/{bootVolumeBackupId}",
            "BootVolumeBackup",
            ("copies", "restoreTests", "retention"),
            {"BOOT_VOLUME_BACKUP_UPDATE", "VOLUME_INSPECT"},
        ),
        # Lifecycle of volume group backups, kept and deleted as units: deleting a group backup deletes its
        # member backups too (VOLUME_GROUP_BACKUP_DELETE and VOLUME_BACKUP_DELETE / BOOT_VOLUME_BACKUP_DELETE).
        # Only retention deletes; the coverage audit lists.
        _op(
            "GetVolumeGroupBackup",
            "blockstorage",
            "GET",
            "/volumeGroupBackups/{volumeGroupBackupId}",
            "VolumeGroupBackup",
            "retention",
            {"VOLUME_GROUP_BACKUP_INSPECT"},
        ),
        _op(
            "DeleteVolumeGroupBackup",
            "blockstorage",
            "DELETE",
            "/volumeGroupBackups/{volumeGroupBackupId}",
            None,
            "retention",
            {"VOLUME_GROUP_BACKUP_DELETE", "VOLUME_BACKUP_DELETE", "BOOT_VOLUME_BACKUP_DELETE"},
        ),
        _op(
            "UpdateVolumeGroupBackup",
            "blockstorage",
            "PUT",
            "/volumeGroupBackups/{volumeGroupBackupId}",
            "VolumeGroupBackup",
            "retention",
            {"VOLUME_GROUP_BACKUP_UPDATE"},
        ),
        # A schedule's dry run previews its lifecycle catch-up: the compartment of each target, which the
        # backup lists need, is read from the target itself (VOLUME_GROUP_INSPECT for a group).
        _op(
            "GetVolumeGroup",
            "blockstorage",
            "GET",
            "/volumeGroups/{volumeGroupId}",
            "VolumeGroup",
            # groups: a trigger naming a group and a member of it backs the member up through the group only.
            (*LIFECYCLE, "groups"),
            {"VOLUME_GROUP_INSPECT"},
        ),
        # Copies, in the destination region: a copy is read back after CopyVolumeBackup answers (a replayed
        # retry token answers the first copy, which may since have been deleted), and the configured
        # retention lock is set on it once AVAILABLE (UpdateVolumeBackup: VOLUME_BACKUP_UPDATE).
        _op(
            "GetCopiedVolumeBackup",
            "copies",
            "GET",
            "/volumeBackups/{volumeBackupId}",
            "VolumeBackup",
            "copies",
            {"VOLUME_BACKUP_INSPECT", "VOLUME_INSPECT"},
            sdk_name="get_volume_backup",
        ),
        _op(
            "GetCopiedBootVolumeBackup",
            "copies",
            "GET",
            "/bootVolumeBackups/{bootVolumeBackupId}",
            "BootVolumeBackup",
            "copies",
            {"BOOT_VOLUME_BACKUP_INSPECT", "VOLUME_INSPECT"},
            sdk_name="get_boot_volume_backup",
        ),
        _op(
            "UpdateCopiedVolumeBackup",
            "copies",
            "PUT",
            "/volumeBackups/{volumeBackupId}",
            "VolumeBackup",
            "copies",
            {"VOLUME_BACKUP_UPDATE", "VOLUME_INSPECT"},
            sdk_name="update_volume_backup",
        ),
        _op(
            "UpdateCopiedBootVolumeBackup",
            "copies",
            "PUT",
            "/bootVolumeBackups/{bootVolumeBackupId}",
            "BootVolumeBackup",
            "copies",
            {"BOOT_VOLUME_BACKUP_UPDATE", "VOLUME_INSPECT"},
            sdk_name="update_boot_volume_backup",
        ),
        # Reporting: custom metrics and failure summaries, after each invocation's answer is computed.
        _op(
            "PostMetricData",
            "monitoring",
            "POST",
            "/metrics",
            "PostMetricDataResponseDetails",
            "metrics",
            {"METRIC_WRITE"},
        ),
        _op(
            "PublishMessage",
            "notifications",
            "POST",
            "/topics/{topicId}/messages",
            "PublishResult",
            "notifications",
            {"ONS_TOPIC_PUBLISH"},
        ),
    )
}


def permissions(features: Collection[Feature]) -> frozenset[Permission]:
    """Every IAM permission the operations a configuration with these features calls need: least privilege."""
    return frozenset(
        permission for op in OPERATIONS.values() if op.called(features) for permission in op.needs(features)
    )


@dataclass(frozen=True)
class Answer:
    """What an operation answered: the JSON as sent, and the headers that matter."""

    data: Any
    opc_request_id: str | None
    next_page: str | None


class OciApi:
    """Every operation of :data:`OPERATIONS`, through clients built on first use and reused."""

    def __init__(self, settings: Settings, signer: Any = None) -> None:
        self._settings = settings
        self._signer = signer
        self._clients: dict[Service, BaseClient] = {}
        self._lock = threading.Lock()
        self._checkers: dict[bool, tuple[Any, ...]] = {}

    def prepare(self) -> None:
        """Read the credentials and build the Block Storage client now (raise their errors here, once)."""
        self.client("blockstorage")

    def client(self, service: Service) -> BaseClient:
        client = self._clients.get(service)
        if client is None:
            with self._lock:
                if service not in self._clients:
                    self._clients[service] = self._build(SERVICES[service])
                client = self._clients[service]
        return client

    def _signer_once(self) -> Any:
        if self._signer is None:
            self._signer = _resource_principal_signer()
        return self._signer

    def _build(self, spec: ServiceSpec) -> BaseClient:
        import oci.circuit_breaker
        from oci._vendor.requests.adapters import HTTPAdapter
        from oci.base_client import BaseClient, OCIHTTPAdapter

        signer = self._signer_once()
        kwargs: dict[str, Any] = {
            "regional_client": True,
            "base_path": spec.base_path,
            "service_endpoint_template": spec.endpoint_template,
            "service_endpoint_template_per_realm": {},
            "endpoint_service_name": spec.endpoint_service_name,
            "service_uses_dualstack_endpoints_by_default": False,
            "client_level_dualstack_endpoints_enabled": None,
            "skip_deserialization": True,
            "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
            "timeout": _timeout(self._settings, spec),
        }
        endpoint = getattr(self._settings, spec.endpoint_setting)
        if endpoint:
            kwargs["service_endpoint"] = endpoint
        try:
            client = BaseClient(spec.name, {}, signer, {}, **kwargs)
        except Exception as exc:  # no region to derive the endpoint from, an endpoint the SDK refuses
            logs.emit(logger, logging.ERROR, "client", service=spec.name, error=type(exc).__name__)
            raise ConfigurationError(
                f"the {spec.name} client could not be built: the function needs its region "
                f"(OCI_RESOURCE_PRINCIPAL_REGION, set by OCI Functions) or BACKUP_{spec.endpoint_setting.upper()}"
            ) from None
        if spec is SERVICES["copies"] and not endpoint and self._settings.copy_region:
            client.set_region(self._settings.copy_region)
        # One pooled connection per concurrent call, so fan-out does not reconnect.
        size = self._settings.max_concurrency
        client.session.mount("https://", OCIHTTPAdapter(pool_connections=1, pool_maxsize=size))
        client.session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=size))
        return client

    def _retry_strategy(self, budget_seconds: float, *, retry_throttling: bool) -> Any:
        """What ``oci.retry.RetryStrategyBuilder`` builds for these settings, built directly: the checkers that
        do not depend on the budget are built once and shared (they hold configuration only)."""
        import oci.retry
        from oci.retry import retry_checkers

        max_sleep = min(_RETRY_MAX_SLEEP_SECONDS, max(budget_seconds / 4, 0.05))
        shared = self._checkers.get(retry_throttling)
        if shared is None:
            # 409 only for IncorrectState (resource busy, retryable per Oracle's API error list and the
            # SDK's default strategy); a 409 Conflict (backup in progress) is an answer. A 429 is left to
            # the caller's run-wide throttle when it has one (retry_throttling=False).
            codes: dict[int, list[str]] = {-1: [], 409: ["IncorrectState"]}
            if retry_throttling:
                codes[429] = []
            shared = (
                retry_checkers.LimitBasedRetryChecker(max_attempts=self._settings.max_attempts),
                # any 5xx except 501, as the SDK defines it
                retry_checkers.TimeoutConnectionAndServiceErrorRetryChecker(
                    service_error_retry_config=codes, retry_any_5xx=True
                ),
            )
            self._checkers[retry_throttling] = shared
        # The SDK checks elapsed time before it sleeps: leave room for one sleep.
        elapsed = retry_checkers.TotalTimeExceededRetryChecker(time_limit_seconds=max(budget_seconds - max_sleep, 0.01))
        return oci.retry.ExponentialBackoffWithFullJitterEqualForThrottlesRetryStrategy(
            base_sleep_time_seconds=_RETRY_BASE_SLEEP_SECONDS,
            exponent_growth_factor=2,
            max_wait_between_calls_seconds=max_sleep,
            checker_container=retry_checkers.RetryCheckerContainer(checkers=[*shared, elapsed]),
        )

    def call(
        self,
        name: str,
        *,
        budget_seconds: float,
        query: Mapping[str, Any] | None = None,
        path: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_token: str | None = None,
        retry_throttling: bool = True,
    ) -> Answer:
        """Call one operation; raise :class:`ApiError`, :class:`NetworkError` or :class:`CredentialsError`."""
        operation = OPERATIONS[name]
        client = self.client(operation.service)
        from oci.exceptions import RequestException, ServiceError

        sent = {"accept": "application/json", "content-type": "application/json", **(headers or {})}
        if retry_token is not None:
            sent["opc-retry-token"] = retry_token
        try:
            response = self._retry_strategy(budget_seconds, retry_throttling=retry_throttling).make_retrying_call(
                client.call_api,
                resource_path=operation.path,
                method=operation.method,
                path_params=dict(path) if path else None,
                query_params={key: value for key, value in (query or {}).items() if value is not None} or None,
                header_params=sent,
                body=body,
                response_type=operation.response_type,
                operation_name=operation.sdk_name,
            )
        except ServiceError as exc:
            raise _api_error(exc) from None
        except (RequestException, OSError) as exc:
            raise NetworkError(_network_problem(exc)) from None
        return Answer(
            response.data, _bounded_id(response.headers.get("opc-request-id")), response.headers.get("opc-next-page")
        )

    def pages(
        self, name: str, *, query: Mapping[str, Any], budget: Callable[[], float], limit: int = MAX_PAGE_ITEMS
    ) -> Iterator[list[dict[str, Any]]]:
        """Each page of a list operation, following ``opc-next-page``; only one page is held at a time.

        ``budget`` gives the seconds each call may take (it raises when none are left).
        """
        page: str | None = None
        asked: set[str] = set()
        for _ in range(MAX_PAGES):
            answer = self.call(name, query={**query, "limit": limit, "page": page}, budget_seconds=budget())
            items = answer.data
            if not isinstance(items, list) or len(items) > MAX_PAGE_ITEMS:
                raise InvalidResponse(f"{name} answered with something that is not a page of items")
            yield [item for item in items if isinstance(item, dict)]
            if not answer.next_page or not isinstance(answer.next_page, str):
                return
            page = answer.next_page[:1024]
            if page in asked:  # a token handed back again would list the same pages until the deadline
                raise InvalidResponse(f"{name} answered with a page token it had already given")
            asked.add(page)
        raise InvalidResponse(f"{name} kept answering with another page past {MAX_PAGES} pages")


def _timeout(settings: Settings, spec: ServiceSpec) -> tuple[float, float]:
    """Connect and read timeouts of a service's requests: the defaults, or its budget setting's seconds."""
    if spec.timeout_setting is None:
        return (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
    seconds = float(getattr(settings, spec.timeout_setting))
    return (min(CONNECT_TIMEOUT_SECONDS, seconds), seconds)


def _resource_principal_signer() -> Any:
    import oci.auth.signers

    try:
        return oci.auth.signers.get_resource_principals_signer()
    except Exception as exc:  # missing, unreadable or corrupt files: the SDK raises many kinds
        # The exception text can hold file paths or token fragments: log only its type.
        logs.emit(logger, logging.ERROR, "credentials", error=type(exc).__name__)
        raise CredentialsError(
            "the function's resource-principal credentials could not be read "
            "(OCI_RESOURCE_PRINCIPAL_VERSION, OCI_RESOURCE_PRINCIPAL_RPST, OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM); "
            "on OCI Functions the platform provides them: check the function's dynamic group and policies"
        ) from None


def _bounded_id(value: Any) -> str | None:
    return value[:256] if isinstance(value, str) else None


def _api_error(exc: Any) -> ApiError:
    """The API's error as the caller may see it: OCI's own code and message, or a fixed message."""
    status = exc.status if isinstance(exc.status, int) and 100 <= exc.status <= 599 else 502
    code, message = exc.code, exc.message
    if isinstance(code, str) and _ERROR_CODE.match(code) and isinstance(message, str):
        if len(message) > MAX_ERROR_MESSAGE_CHARS:
            message = message[:MAX_ERROR_MESSAGE_CHARS] + "..."
        return ApiError(code=code, message=message, status=status, opc_request_id=_bounded_id(exc.request_id))
    # Not OCI's error JSON (a proxy's page, a load balancer's text): its text stays out of the answer.
    return ApiError(
        code=InvalidResponse.code,
        message=f"the API answered HTTP {status} without an OCI error document",
        status=status,
        opc_request_id=_bounded_id(exc.request_id),
    )


def _network_problem(exc: BaseException) -> str:
    """A plain description of a transport failure, without endpoints or SDK text."""
    from oci._vendor.requests import exceptions as requests_exceptions

    chain: list[BaseException] = [exc, *[arg for arg in exc.args if isinstance(arg, BaseException)]]
    if any(isinstance(item, requests_exceptions.Timeout) for item in chain):
        return "the API did not answer in time"
    return "the connection to the API failed or was dropped"
