"""Reference: the orphan sweep as it was, holding each compartment's whole backup list as the SDK's dicts.

Before, the sweep listed a compartment's backups of a kind completely (every page, de-duplicated, every
backup kept as listed: everyone's, not only this deployment's), grouped them by volume and only then
judged them. ``bench/sweep.py`` measures this beside the function itself, in the same run.
"""

from __future__ import annotations

from typing import Any

from backup_handler.errors import BackupError, DeadlineExceeded
from backup_handler.runs import lifecycle
from backup_handler.runs.lifecycle import Lifecycle, Scope, _Run
from backup_handler.runs.lifecycle_result import LifecycleResult
from backup_handler.runs.orphans import OrphanCounts, OrphanKind, Sweep
from backup_handler.runs.ownership import RETAINED_TRIGGERS, Kind, Ownership, parse_time, tags_of
from backup_handler.vocabulary.fields import TRIGGER_TAG


class FullListRun(_Run):
    def _sweep_listing(
        self,
        kind: Kind,
        compartment: str,
        sweep: Sweep,
        pending: dict[tuple[str, str], Scope],
        orphans: list[tuple[Scope, OrphanKind, list[dict[str, Any]]]],
        counts: OrphanCounts,
    ) -> None:
        try:
            listed = self.calls.list(kind.list_op, {"compartmentId": compartment})
        except DeadlineExceeded:
            raise
        except BackupError as exc:
            self.result.fail(compartment, exc)
            counts.complete = False
            return
        by_scope: dict[str, list[dict[str, Any]]] = {}
        for item in listed:
            scope_id = item.get(kind.id_field)
            if isinstance(scope_id, str):
                by_scope.setdefault(scope_id, []).append(item)
                self.pruner.saw(parse_time(item.get("timeCreated")))
        inventory: dict[str, dict[str, Any]] | None = None
        for scope_id, items in by_scope.items():
            scope = Scope(kind.name, scope_id, compartment)
            if pending.pop((kind.name, scope_id), None) is not None:
                try:
                    self.scope(scope, items)
                except DeadlineExceeded:
                    raise
                except BackupError as exc:
                    self.result.fail(scope_id, exc)
                continue
            own = [
                item
                for item in items
                if self.ownership.judge(item, kind, scope_id=scope_id, compartment=compartment) == "own"
                and item.get("lifecycleState") == "AVAILABLE"
                and tags_of(item).get(TRIGGER_TAG) in RETAINED_TRIGGERS
            ]
            if not own:
                continue
            if inventory is None:
                inventory = self._inventory(kind, compartment)
                if inventory is None:
                    counts.complete = False
                    return
            verdict = sweep.judge(kind.name, scope_id, inventory)
            if verdict != "selected":
                counts.backups += len(own)
                orphans.append((scope, verdict, items))


class FullListLifecycle(Lifecycle):
    def _start(self, answer_by: float, dry_run: bool, result: LifecycleResult, resource_id: str) -> _Run | None:
        run = super()._start(answer_by, dry_run, result, resource_id)
        if run is None:
            return None
        reference = FullListRun(self._settings, Ownership(run.ownership.identity), run.calls, result, dry_run)
        return reference


__all__ = ["FullListLifecycle", "lifecycle"]
