"""The emulator's resources: one store per resource family, replaced whole on reset."""

from __future__ import annotations

from dataclasses import dataclass, field

from localdev.emulator.backups import BackupStore
from localdev.emulator.compartments import CompartmentStore
from localdev.emulator.copies import CopyStore
from localdev.emulator.groups import GroupStore
from localdev.emulator.monitoring import MetricStore
from localdev.emulator.notifications import TopicStore
from localdev.emulator.restores import RestoreStore
from localdev.emulator.volumes import VolumeStore


@dataclass
class State:
    """Everything the API can read or change."""

    volumes: VolumeStore = field(default_factory=VolumeStore)
    backups: BackupStore = field(default_factory=BackupStore)
    copies: CopyStore = field(default_factory=CopyStore)  # copies started from this region
    groups: GroupStore = field(default_factory=GroupStore)  # volume groups and their backups
    compartments: CompartmentStore = field(default_factory=CompartmentStore)
    metrics: MetricStore = field(default_factory=MetricStore)  # Monitoring's custom metrics posted
    topics: TopicStore = field(default_factory=TopicStore)  # Notifications topics and their messages
    restores: RestoreStore = field(default_factory=RestoreStore)  # volumes restored from backups, deletions
