"""A simulated tenancy for the emulator: compartments, thousands of tagged volumes, boot volumes, groups.

:func:`seed_tenancy` adds, deterministically for a given ``seed``:

- ``compartments`` compartments: even-numbered ones directly below the tenancy, each odd-numbered
  one below the compartment before it (so a subtree listing differs from a plain one);
- ``volumes`` block volumes spread over the compartments and ``availability_domains`` ADs, with
  freeform tags ``backup`` (``daily``/``weekly``/``none``, or absent) and ``env`` (``prod``/``dev``),
  a defined tag ``Operations.BackupPolicy`` (``gold``/``silver``/``bronze``, or absent), and about
  one in twenty not ``AVAILABLE`` (``PROVISIONING``, ``TERMINATED``, ``FAULTY``);
- ``volumes // 20`` boot volumes (at least one), tagged the same way;
- ``volume_groups`` groups of 2 to 4 ``AVAILABLE`` volumes sharing a compartment and an AD.

It answers with a :class:`Tenancy` describing what it added: ids, and counts per tag, state,
compartment and AD, for tests and benchmarks to check selections against.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from localdev.credentials import TENANCY
from localdev.emulator import BlockStorageEmulator

TAG_NAMESPACE = "Operations"
_BACKUP = (("daily", 50), ("weekly", 25), ("none", 15), (None, 10))
_ENV = (("prod", 60), ("dev", 40))
_POLICY = (("gold", 20), ("silver", 30), ("bronze", 30), (None, 20))
_OTHER_STATES = ("PROVISIONING", "TERMINATED", "FAULTY")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SeededVolume:
    """One volume or boot volume the seed added."""

    id: str
    boot: bool
    compartment_id: str
    availability_domain: str
    lifecycle_state: str
    freeform_tags: Mapping[str, str]
    defined_tags: Mapping[str, Mapping[str, Any]]
    volume_group_id: str | None = None


@dataclass(frozen=True)
class Tenancy:
    """What :func:`seed_tenancy` added, and how it is spread."""

    tenancy_id: str
    compartment_ids: tuple[str, ...]
    availability_domains: tuple[str, ...]
    volumes: tuple[SeededVolume, ...]  # block volumes, then boot volumes
    volume_group_ids: tuple[str, ...]
    by_tag: Mapping[str, Counter[str]]  # freeform tag → value → block volumes carrying it
    by_state: Counter[str]  # lifecycle state → block volumes
    by_placement: Counter[tuple[str, str]]  # (compartment, AD) → block volumes

    @property
    def volume_ids(self) -> tuple[str, ...]:
        return tuple(volume.id for volume in self.volumes if not volume.boot)

    @property
    def boot_volume_ids(self) -> tuple[str, ...]:
        return tuple(volume.id for volume in self.volumes if volume.boot)

    def select(self, *, boot: bool = False, **freeform_tags: str) -> list[SeededVolume]:
        """The volumes (boot volumes, with ``boot``) carrying every freeform tag given."""
        return [
            volume
            for volume in self.volumes
            if volume.boot == boot and all(volume.freeform_tags.get(k) == v for k, v in freeform_tags.items())
        ]


def _pick(rng: random.Random, weighted: tuple[tuple[str | None, int], ...]) -> str | None:
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


def seed_tenancy(
    emulator: BlockStorageEmulator,
    volumes: int = 10_000,
    compartments: int = 3,
    availability_domains: int = 3,
    seed: int = 0,
    *,
    volume_groups: int = 5,
) -> Tenancy:
    """Add a deterministic tenancy to ``emulator`` (beside whatever it holds) and describe it."""
    if volumes < 0 or compartments < 1 or availability_domains < 1 or volume_groups < 0:
        raise ValueError("a tenancy needs a compartment, an AD, and no negative counts")
    rng = random.Random(seed)
    prefix = f"lt{seed:06d}"
    compartment_ids = tuple(f"ocid1.compartment.oc1..aaaaaaaa{prefix}cmp{n:046d}" for n in range(compartments))
    for n, compartment_id in enumerate(compartment_ids):
        parent = compartment_ids[n - 1] if n % 2 else TENANCY
        emulator.add_compartment(compartment_id, parent, f"{prefix}-compartment-{n}")
    ads = tuple(f"Uocm:US-ASHBURN-AD-{n + 1}" for n in range(availability_domains))

    seeded: list[SeededVolume] = []
    for boot, count in ((False, volumes), (True, max(1, volumes // 20))):
        kind = "bootvolume" if boot else "volume"
        for n in range(count):
            freeform = {"env": str(_pick(rng, _ENV))}
            backup = _pick(rng, _BACKUP)
            if backup is not None:
                freeform["backup"] = backup
            policy = _pick(rng, _POLICY)
            defined = {TAG_NAMESPACE: {"BackupPolicy": policy}} if policy is not None else {}
            state = rng.choice(_OTHER_STATES) if rng.random() < 0.05 else "AVAILABLE"
            volume = SeededVolume(
                f"ocid1.{kind}.oc1.iad.{prefix}{kind}{n:040d}",
                boot,
                rng.choice(compartment_ids),
                rng.choice(ads),
                state,
                freeform,
                defined,
            )
            emulator.add_volume(
                volume.id,
                boot=boot,
                display_name=f"{prefix}-{kind}-{n}",
                compartment_id=volume.compartment_id,
                availability_domain=volume.availability_domain,
                freeform_tags=freeform,
                defined_tags=defined,
                lifecycle_state=state,
                time_created=(_EPOCH + timedelta(seconds=n)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            )
            seeded.append(volume)

    group_ids, members = _add_groups(emulator, rng, prefix, seeded, volume_groups)
    described = tuple(replace(volume, volume_group_id=members.get(volume.id)) for volume in seeded)
    block = [volume for volume in described if not volume.boot]
    by_tag: dict[str, Counter[str]] = defaultdict(Counter)
    for volume in block:
        for key, value in volume.freeform_tags.items():
            by_tag[key][value] += 1
    return Tenancy(
        TENANCY,
        compartment_ids,
        ads,
        described,
        group_ids,
        dict(by_tag),
        Counter(volume.lifecycle_state for volume in block),
        Counter((volume.compartment_id, volume.availability_domain) for volume in block),
    )


def _add_groups(
    emulator: BlockStorageEmulator, rng: random.Random, prefix: str, seeded: list[SeededVolume], count: int
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Groups of 2 to 4 available block volumes sharing a placement; (group ids, volume → group)."""
    placements: dict[tuple[str, str], list[str]] = defaultdict(list)
    for volume in seeded:
        if not volume.boot and volume.lifecycle_state == "AVAILABLE":
            placements[(volume.compartment_id, volume.availability_domain)].append(volume.id)
    candidates = sorted(placements.items())
    group_ids: list[str] = []
    members: dict[str, str] = {}
    for n in range(count):
        if not candidates:
            break
        (compartment_id, ad), free = candidates[n % len(candidates)]
        size = min(len(free), rng.randint(2, 4))
        if size < 2:
            continue
        chosen = [free.pop() for _ in range(size)]
        group_id = f"ocid1.volumegroup.oc1.iad.{prefix}group{n:040d}"
        emulator.add_volume_group(
            group_id, compartment_id, ad, chosen, freeform_tags={"backup": "group"}, display_name=f"{prefix}-group-{n}"
        )
        group_ids.append(group_id)
        members.update(dict.fromkeys(chosen, group_id))
    return tuple(group_ids), members
