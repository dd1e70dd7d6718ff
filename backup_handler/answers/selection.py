"""A dry run's ``selection``: each resource a selector's list calls returned, selected or left out and why.

``{"resources": [{"resourceId", "selected": true}, {"resourceId", "selected": false, "reason":
"excludeFreeformTags backup=never"}, ...], "selectedCount", "leftOutCount", "excludedCount",
"moreResources"}``: at most :data:`~backup_handler.runs.selection.MAX_EXPLAINED` resources are
listed, the rest counted. Only a dry run's answer carries it; every other answer stays as it is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from backup_handler.answers.response import Reply

if TYPE_CHECKING:
    from backup_handler.runs.selection import Resolution

SECTION = "selection"


def explained(resolution: Resolution | None) -> dict[str, Any]:
    """``{"selection": ...}`` for a resolution that was asked to explain itself; otherwise nothing."""
    if resolution is None or resolution.explanation is None:
        return {}
    return {SECTION: resolution.explanation.document()}


def with_selection(reply: Reply, resolution: Resolution | None) -> Reply:
    """A dry run's answer with the account of its selection; any other answer as it is."""
    section = explained(resolution)
    if not reply.dry_run or not section:
        return reply
    return replace(reply, document={**reply.document, **section})
