"""An adversarial pass over retention as merged: strict inputs, chains of batches, tiers, orphans, caps and grace.

Each test is one probe, written as an attacker or a pager would try it, through the real fdk runtime behind
the platform model with the real SDK over HTTP to the emulator; it passes when the behaviour is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT, TENANCY
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.functions import FunctionsEmulator
from localdev.platform import FnPlatform
from localdev.samples import VOLUMES
from localdev.stack import LocalStack
from tests.conftest import DEPLOYMENT, OWN, ago, backup_end, event_json, states
from tests.e2e.test_e2e_retention import (
    BATCHED_FUNCTION,
    DUE_TAG,
    GONE,
    seed_hourly,
    seed_orphans,
    tags_of,
    tick,
)
from tests.e2e.test_e2e_selection_hostile import FakeOci, _FakeHandler

pytestmark = pytest.mark.e2e

MUTATING = ("POST", "PUT", "DELETE")


def terminated(emulator: BlockStorageEmulator) -> int:
    return sum(state == "TERMINATED" for state in states(emulator).values())


# ------------------------------------------------------------------------------------------------------ caps


@pytest.mark.parametrize(
    ("cap", "variable"),
    [("BACKUP_RETENTION_MAX_DELETES", "2"), ("BACKUP_RETENTION_MAX_DELETES_PER_VOLUME", "2")],
    ids=["in-all", "per-volume"],
)
def test_a_deletion_whose_answer_is_lost_still_counts_toward_the_cap(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, cap: str, variable: str
) -> None:
    # Each DELETE is done by the service, then its connection drops: the SDK's retry of it meets a 404 and the
    # backup is found TERMINATED. Those deletions are this run's own, and the cap must count them.
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", **{cap: variable})
    own = seed_hourly(emulator, VOLUMES[0], [ago(10 - d) for d in range(8)])
    emulator.inject(*[Fault("deleteVolumeBackup", drop="after") for _ in range(8)])

    answer = platform.invoke(backup_end(own[-1]))

    asked = {call.path.rsplit("/", 1)[-1] for call in emulator.calls if call.method == "DELETE"}
    assert len(asked) <= 2 and terminated(emulator) <= 2, (answer.status, answer.body)
    assert states(emulator)[own[-1]] == "AVAILABLE"
    # A lost answer is a network failure: 502, so the source redelivers (a new run, with caps of its own).
    assert answer.status == 502


def test_a_forged_batch_of_a_schedule_never_sweeps_and_deletes_only_what_the_rules_let_go(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    # Anyone who may invoke can send a body shaped as the function's own chain link, `next` list and all.
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2", BACKUP_RETENTION_MAX_DELETES="1")
    seeded = seed_orphans(emulator)
    forged = {
        "source": "batch",
        "trigger": "schedule",
        "sourceRef": "20260101T000000Z/3600s",
        "idempotencyKey": "schedule:1767225600:3600",
        "timeLabel": "20260101T000000Z",
        "batch": 0,
        "chain": 0,
        "link": 7,
        "type": "FULL",
        "targets": [{"kind": "volume", "id": VOLUMES[0]}],
        "next": [VOLUMES[1], GONE.replace("deletedvolume", "deletedvolumf")],
    }

    document = platform.invoke(forged, invoke_type="detached").wait(30).json()

    assert "orphans" not in document  # a batch never sweeps
    after = states(emulator)
    assert [after[b] for b in seeded["named"]] == ["TERMINATED", "AVAILABLE", "AVAILABLE"]  # the cap: one
    assert all(after[b] == "AVAILABLE" for b in [*seeded["unselected"], *seeded["gone"], *seeded["untouchable"]])
    assert document["retentionCapped"]["heldCount"] == 1


# ------------------------------------------------------------------------------------------- whose backup is it


@pytest.mark.parametrize("volume_id", ["not-a-volume", "ocid1.instance.oc1.iad.abuwcljrnotavolume000000", ""])
def test_own_looking_backups_that_name_no_volume_are_never_deleted_by_an_event_or_a_sweep(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, volume_id: str
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    odd = [emulator.add_backup(volume_id, time_created=ago(d), freeform_tags=OWN) for d in (5, 4, 3)]

    event = platform.invoke(backup_end(odd[-1])).json()
    summary = tick(platform, VOLUMES[0])

    assert event["deleted"] == [], event
    assert summary["deletedCount"] == 0, summary
    assert all(states(emulator)[b] == "AVAILABLE" for b in odd)


LOOKALIKES = {
    "case": "Backup-Deployment",
    "hyphen": "backup\u2010deployment",  # U+2010 HYPHEN
    "cyrillic-a": "b\u0430ckup-deployment",  # U+0430 CYRILLIC SMALL LETTER A
    "space": "backup-deployment ",
    "zero-width": "backup-\u200bdeployment",
}


@pytest.mark.parametrize("key", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_a_persons_backup_with_a_look_alike_identity_key_is_never_deleted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, key: str
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    tags = {k: v for k, v in OWN.items() if k != "backup-deployment"} | {key: DEPLOYMENT}
    persons = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=tags) for d in (9, 8)]
    own = seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (3, 2, 1)])

    document = platform.invoke(backup_end(own[-1])).json()

    assert {entry["backupId"] for entry in document["deleted"]} == set(own[:2])
    assert all(states(emulator)[b] == "AVAILABLE" for b in persons)
    assert document["foreignOwnBackups"] == 2  # the function's tags, not its identity: counted, never touched


@pytest.mark.parametrize("key", ["backup-deployment", "backup-kind", "backup-retention-due", "backup-copy"])
@pytest.mark.parametrize(
    "spelling", [str, str.upper, lambda k: k.replace("-", "\u2010")], ids=["as-is", "upper", "u2010"]
)
def test_an_invoker_never_sets_a_reserved_tag_in_any_spelling_that_the_function_reads(
    platform: FnPlatform, emulator: BlockStorageEmulator, key: str, spelling: Callable[[str], str]
) -> None:
    sent = spelling(key)
    answer = platform.invoke({"volumeId": VOLUMES[0], "freeformTags": {sent: "other-app/backup-handler"}})

    document = answer.json()
    if sent == key:  # the exact key is refused, naming it
        assert document["code"] == "InvalidRequest" and document["errors"][0]["field"] == f"freeformTags.{sent}"
        assert emulator.creates() == []
        return
    # Another spelling is another tag (OCI compares free-form keys exactly): the function's own is its own.
    backup = next(b for b in emulator.backups() if b["id"] == document["id"])
    assert backup["freeformTags"]["backup-deployment"] == DEPLOYMENT
    assert backup["freeformTags"]["backup-trigger"] == "manual"


# --------------------------------------------------------------------------------------------------- orphans


@pytest.mark.parametrize(("status", "code"), [(404, "NotAuthorizedOrNotFound"), (403, "NotAuthorized")])
def test_a_compartment_whose_volumes_cannot_be_listed_has_no_orphans_and_says_the_sweep_is_incomplete(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, status: int, code: str
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2", BACKUP_MAX_ATTEMPTS="1")
    seeded = seed_orphans(emulator)
    emulator.inject(Fault("listVolumes", status=status, code=code))

    summary = tick(platform, VOLUMES[0])

    after = states(emulator)
    assert all(after[b] == "AVAILABLE" for b in [*seeded["unselected"], *seeded["gone"], *seeded["untouchable"]])
    assert [after[b] for b in seeded["named"]] == ["TERMINATED", "TERMINATED", "AVAILABLE"]  # its own, as usual
    assert summary["orphans"]["sourceGone"] == summary["orphans"]["sourceUnseen"] == 0
    assert summary["orphans"]["notSelected"] == 0
    assert summary["orphans"]["complete"] is False and summary["orphans"]["deleted"] == 0
    assert any(error["code"] == code for error in summary["lifecycleErrors"])


def test_a_volume_living_in_a_compartment_the_sweep_does_not_list_is_never_said_to_be_deleted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    # Its backups were moved into the swept compartment; the volume itself lives elsewhere and is still there.
    emulator.in_progress_seconds = 0.0
    elsewhere = COMPARTMENT.replace("local", "vault")
    moved = "ocid1.volume.oc1.iad.abuwcljrlivesinanothercompartment000000000000000000000000001"
    emulator.add_volume(moved, compartment_id=elsewhere)
    own = [
        emulator.add_backup(moved, time_created=ago(d), freeform_tags=OWN, compartment_id=COMPARTMENT)
        for d in (4, 3, 2, 1)
    ]
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2")

    summary = tick(platform, VOLUMES[0])

    assert (summary["orphans"]["sourceGone"], summary["orphans"]["sourceUnseen"]) == (0, 1), summary["orphans"]
    assert [states(emulator)[b] for b in own][2:] == ["AVAILABLE", "AVAILABLE"]  # the rules' newest two, at least


def test_a_backup_list_that_fails_midway_deletes_nothing_of_that_kind_and_the_rest_goes_on(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2", BACKUP_MAX_ATTEMPTS="1")
    seeded = seed_orphans(emulator)
    emulator.inject(Fault("listVolumeBackups", status=400, code="InvalidParameter"))  # the compartment's list

    summary = tick(platform, VOLUMES[0])

    after = states(emulator)
    assert all(after[b] == "AVAILABLE" for b in [*seeded["unselected"], *seeded["gone"], *seeded["untouchable"]])
    assert [after[b] for b in seeded["named"]] == ["TERMINATED", "TERMINATED", "AVAILABLE"]  # by its own list
    assert summary["orphans"]["complete"] is False and summary["orphans"]["deleted"] == 0


# ----------------------------------------------------------------------------------------------------- grace


def _seal(rule_text: str, identity: str, backup_id: str, since: datetime) -> str:
    from backup_handler.runs.grace import Grace

    return Grace(identity, rule_text, timedelta(days=1)).mark(backup_id, since, "rules")


@pytest.mark.parametrize(
    "forgery",
    ["future", "far-past", "other-deployment", "other-rule", "garbled"],
)
def test_a_mark_this_deployment_did_not_make_under_this_rule_never_hastens_a_deletion(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, forgery: str
) -> None:
    from backup_handler.runs.lifecycle import rule_of
    from backup_handler.settings import Settings

    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_GRACE="1d")
    older = emulator.add_backup(VOLUMES[0], time_created=ago(30), freeform_tags=OWN)
    newer = emulator.add_backup(VOLUMES[0], time_created=ago(20), freeform_tags=OWN)
    rule = rule_of(Settings(retention_keep_last=1)).describe()
    now = datetime.now(UTC)
    mark = {
        "future": _seal(rule, DEPLOYMENT, older, now + timedelta(days=400)),
        "far-past": _seal(rule, DEPLOYMENT, older, datetime(1970, 1, 1, tzinfo=UTC)),
        "other-deployment": _seal(rule, "other-app/backup-handler", older, now - timedelta(days=5)),
        "other-rule": _seal(rule.replace("last=1", "last=0"), DEPLOYMENT, older, now - timedelta(days=5)),
        "garbled": "2026-01-01T00:00:00Z|rules|" + "0" * 20 + "|x" + "\u0000" * 3,
    }[forgery]
    emulator.retag_backup(older, {**OWN, DUE_TAG: mark})

    document = platform.invoke(backup_end(newer)).json()

    assert document["deleted"] == [] and states(emulator)[older] == "AVAILABLE"
    assert [entry["backupId"] for entry in document["marked"]] == [older] and document["marked"][0]["new"]
    assert tags_of(emulator, older)[DUE_TAG] != mark


def test_a_marked_backup_kept_again_by_a_raised_keep_last_is_unmarked_and_its_old_mark_never_used_later(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    marking = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_GRACE="1h")
    older = emulator.add_backup(VOLUMES[0], time_created=ago(30), freeform_tags=OWN)
    newer = emulator.add_backup(VOLUMES[0], time_created=ago(20), freeform_tags=OWN)
    assert [e["backupId"] for e in marking.invoke(backup_end(newer)).json()["marked"]] == [older]

    keeping = start_platform(BACKUP_RETENTION_KEEP_LAST="2", BACKUP_RETENTION_GRACE="1h")
    kept = keeping.invoke(backup_end(newer)).json()

    assert kept["unmarkedCount"] == 1 and DUE_TAG not in tags_of(emulator, older)
    assert states(emulator)[older] == "AVAILABLE"


# ---------------------------------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BACKUP_RETENTION_MAX_DELETES", "1e3"),
        ("BACKUP_RETENTION_MAX_DELETES", " 16"),
        ("BACKUP_RETENTION_MAX_DELETES", "0"),
        ("BACKUP_RETENTION_MAX_DELETES_PER_VOLUME", "NaN"),
        ("BACKUP_RETENTION_MIN_KEEP", "0"),
        ("BACKUP_RETENTION_MIN_KEEP", "true"),
        ("BACKUP_RETENTION_KEEP_DAILY", "7.0"),
        ("BACKUP_RETENTION_GRACE", "NaN"),
        ("BACKUP_RETENTION_GRACE", "-1d"),
        ("BACKUP_RETENTION_ORPHANS", "Keep"),
        ("BACKUP_RETENTION_ORPHANS", "delete"),
    ],
)
def test_a_retention_setting_not_exactly_its_type_is_refused_naming_it_and_nothing_is_deleted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, variable: str, value: str
) -> None:
    own = seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (3, 2, 1)])
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", **{variable: value})

    event = platform.invoke(backup_end(own[-1]))  # 502: the source redelivers once the configuration is fixed
    answer = platform.invoke({"volumeId": VOLUMES[0]})  # a caller reads why

    assert event.status == 502
    document = answer.json()
    assert document["code"] == "ConfigurationError", document
    assert variable in {e["field"] for e in document["errors"]}
    assert terminated(emulator) == 0 and emulator.creates() == []


@pytest.mark.parametrize(
    "body",
    [
        {**backup_end("ocid1.volumebackup.oc1.iad.x"), "dryRun": "false"},
        {"source": "schedule", "volumeIds": [VOLUMES[0]], "dryRun": "false"},
        {"source": "schedule", "volumeIds": [VOLUMES[0]], "dryRun": 0},
    ],
    ids=["event", "schedule", "schedule-zero"],
)
def test_a_dry_run_false_spelled_as_text_is_refused_and_nothing_is_deleted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, body: dict[str, Any]
) -> None:
    own = seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (3, 2, 1)])
    if "eventType" in body:
        body["data"]["resourceId"] = own[-1]
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")

    document = platform.invoke(body, invoke_type="detached").wait(30).json()

    assert document["code"] == "InvalidRequest" and "dryRun" in {e["field"] for e in document["errors"]}
    assert terminated(emulator) == 0 and emulator.creates() == []
    assert [c for c in emulator.calls if c.method in MUTATING] == []


def test_a_tick_in_a_chain_of_batches_deletes_at_most_the_cap_per_invocation_and_each_says_what_it_held(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, stack: LocalStack
) -> None:
    # The caps count per invocation: a tick's bound is BACKUP_RETENTION_MAX_DELETES times its invocations (the
    # one that received it, and each link of each chain), and each link says what it held back.
    emulator.in_progress_seconds = 0.0
    selected = [f"ocid1.volume.oc1.iad.abuwcljrchaincap{n:043d}" for n in range(5)]
    for volume_id in selected:
        emulator.add_volume(volume_id, freeform_tags={"backup": "hourly"})
        seed_hourly(emulator, volume_id, [ago(d) for d in (4, 3, 2, 1)])
    with FunctionsEmulator(stack.identity) as functions:
        platform = start_platform(
            BACKUP_IDENTITY_ENDPOINT=stack.emulator.endpoint,
            BACKUP_INVOKE_ENDPOINT=functions.endpoint,
            FN_FN_ID=BATCHED_FUNCTION,
            BACKUP_BATCH_SIZE="2",
            BACKUP_BATCH_CHAINS="1",
            BACKUP_RETENTION_KEEP_LAST="2",
            BACKUP_RETENTION_MAX_DELETES="1",
        )
        functions.register(BATCHED_FUNCTION, platform)
        body = {
            "source": "schedule",
            "selector": {"compartmentId": COMPARTMENT, "freeformTags": {"backup": "hourly"}, "kinds": ["volume"]},
        }

        parent = platform.invoke(body, invoke_type="detached").wait().json()
        links = [link.wait(30).json() for link in functions.wait_for(3)]

    assert parent["batched"] == 5 and parent["orphans"]["deleted"] == 0
    assert [link["deletedCount"] for link in links] == [1, 1, 1]  # one chain of three links, one deletion each
    assert all(link["retentionCapped"]["heldCount"] >= 1 for link in links)
    assert terminated(emulator) == 3 <= 1 * (1 + len(links))


def test_a_backup_list_that_replays_its_page_token_is_refused_at_once_and_deletes_nothing(
    start_platform: Callable[..., FnPlatform], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_FakeHandler, "do_DELETE", lambda handler: handler._answer("DELETE"), raising=False)
    volume_id = VOLUMES[0]
    newest = "ocid1.volumebackup.oc1.iad.abuwcljrreplayedtoken" + "2".zfill(40)
    backups: list[dict[str, Any]] = [
        {
            "id": f"ocid1.volumebackup.oc1.iad.abuwcljrreplayedtoken{n:040d}",
            "volumeId": volume_id,
            "compartmentId": COMPARTMENT,
            "lifecycleState": "AVAILABLE",
            "timeCreated": ago(5 - n).isoformat(),
            "freeformTags": OWN,
            "sourceType": "MANUAL",
        }
        for n in range(3)
    ]

    def route(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        if method == "GET" and path.endswith(newest):
            return 200, {}, backups[-1]
        if method == "GET" and path.endswith("/volumeBackups"):  # every page names the same next page
            return 200, {"opc-next-page": "replayed"}, backups
        return 204, {}, b""

    fake = FakeOci(route)
    try:
        platform = start_platform(
            BACKUP_BLOCKSTORAGE_ENDPOINT=fake.endpoint, BACKUP_MAX_ATTEMPTS="1", BACKUP_RETENTION_KEEP_LAST="1"
        )
        answer = platform.invoke(backup_end(newest, volume_id), deadline_seconds=20)
    finally:
        fake.close()

    assert fake.count("/volumeBackups") <= 3, fake.count("/volumeBackups")  # not until the deadline
    assert [call for call in fake.calls if call[0] == "DELETE"] == []
    assert answer.status in (200, 502)


@pytest.mark.parametrize(
    "tags",
    [
        {"backup-deployment": "other-app/backup-handler"},
        {"backup-copy": "notCopyable"},
        {"backup-retention-due": "2020-01-01T00:00:00Z|rules|x"},
        {"backup-restore-test": "passed"},
        {"team": "storage", "backup-kind": "volumeGroup"},
    ],
    ids=["identity", "copy", "mark", "restore-result", "kind"],
)
def test_configured_tags_that_would_stamp_a_tag_the_function_reads_are_a_configuration_error(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, tags: dict[str, str]
) -> None:
    # A tag the function reads back (its identity, a mark, a copy or test verdict) stamped on every backup by
    # configuration would make another deployment own them, stop copies, or claim restore tests never run.
    import json

    platform = start_platform(BACKUP_FREEFORM_TAGS=json.dumps(tags))

    document = platform.invoke({"volumeId": VOLUMES[0]}).json()

    assert document["code"] == "ConfigurationError", document
    assert "BACKUP_FREEFORM_TAGS" in {e["field"] for e in document["errors"]}
    assert emulator.creates() == []


@pytest.mark.parametrize("key", ["dryrun", "DryRun", "dry-run", "DRY_RUN", "dry_run", "ｄｒｙＲｕｎ"])
@pytest.mark.parametrize("trigger", ["event", "alarm"])
def test_a_dry_run_asked_for_under_another_spelling_is_honoured_or_refused_never_ignored(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, key: str, trigger: str
) -> None:
    # Events and alarm messages accept the fields their sources add over time; a dry run misspelled there must
    # not pass for one of those and let the run write.
    own = seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (3, 2, 1)])
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    if trigger == "event":
        body = backup_end(own[-1])
    else:
        body = {**event_json("alarm.json")}
        body["alarmMetaData"][0]["dimensions"] = [{"resourceId": VOLUMES[0]}]
    body[key] = True

    answer = platform.invoke(body, invoke_type="detached").wait(30)

    document = answer.json()
    assert document.get("dryRun") is True or (
        document.get("code") == "InvalidRequest" and "dryRun" in document["errors"][0]["problem"]
    ), document
    assert terminated(emulator) == 0 and emulator.creates() == []
    assert [c for c in emulator.calls if c.method in MUTATING] == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"volumeId": "%s", "dryRun": true, "dryRun": false}' % VOLUMES[0].encode(),
        b'{"volumeId": "%s", "volumeId": "%s"}' % (VOLUMES[0].encode(), VOLUMES[1].encode()),
        b'{"source": "schedule", "volumeIds": ["%s"], "dryRun": true, "dryRun": false}' % VOLUMES[0].encode(),
        b'{"volumeId": "%s", "freeformTags": {"team": "a", "team": "b"}}' % VOLUMES[0].encode(),
    ],
    ids=["dry-run-twice", "volume-twice", "schedule-dry-run-twice", "nested-twice"],
)
def test_a_body_naming_a_field_twice_is_refused_not_read_by_its_last_spelling(
    platform: FnPlatform, emulator: BlockStorageEmulator, raw: bytes
) -> None:
    answer = platform.invoke(raw, invoke_type="detached").wait(30)

    assert answer.json()["code"] == "InvalidJson", answer.body
    assert emulator.creates() == [] and [c for c in emulator.calls if c.method in MUTATING] == []


def test_a_forged_schedule_body_with_a_selector_wider_than_configuration_deletes_only_what_the_rules_let_go(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, stack: LocalStack
) -> None:
    # Configuration names one volume; an invoker's tick selects another compartment whole. Its sweep may only
    # apply the configured rules to this deployment's own backups there: never a person's, another
    # deployment's, a policy's or a manual one, and never a volume's newest.
    emulator.in_progress_seconds = 0.0
    wide = COMPARTMENT.replace("local", "widened")
    emulator.add_compartment(wide, TENANCY, "widened")
    picked = "ocid1.volume.oc1.iad.abuwcljrwidenedpicked000000000000000000000000000000000001"
    other = "ocid1.volume.oc1.iad.abuwcljrwidenedother0000000000000000000000000000000000001"
    emulator.add_volume(picked, compartment_id=wide, freeform_tags={"pick": "me"})
    emulator.add_volume(other, compartment_id=wide)
    own = [emulator.add_backup(other, time_created=ago(d), freeform_tags=OWN) for d in (4, 3, 2, 1)]
    theirs = [
        emulator.add_backup(other, time_created=ago(9), freeform_tags={"owner": "dba"}),
        emulator.add_backup(other, time_created=ago(8), freeform_tags={**OWN, "backup-deployment": "x/y"}),
        emulator.add_backup(other, time_created=ago(7), freeform_tags={**OWN, "backup-trigger": "manual"}),
        emulator.add_backup(other, time_created=ago(6), freeform_tags=OWN, source_type="SCHEDULED"),
    ]
    platform = start_platform(
        BACKUP_IDENTITY_ENDPOINT=stack.emulator.endpoint, BACKUP_TARGETS=VOLUMES[0], BACKUP_RETENTION_KEEP_LAST="2"
    )
    body = {"source": "schedule", "selector": {"compartmentId": wide, "freeformTags": {"pick": "me"}}}

    summary = platform.invoke(body, invoke_type="detached", deadline_seconds=60).wait().json()

    after = states(emulator)
    assert [after[b] for b in own] == ["TERMINATED", "TERMINATED", "AVAILABLE", "AVAILABLE"], summary
    assert all(after[b] == "AVAILABLE" for b in theirs)
    assert summary["orphans"]["notSelected"] == 1


def _at_limits(event: dict[str, Any], depth: int, size: int) -> bytes:
    """``event`` nested exactly ``depth`` deep and padded to exactly ``size`` bytes (in a field sources add)."""
    import json

    from backup_handler.triggers.payload import json_depth_exceeds

    nested: Any = 1
    body = {**event, "padding": ""}
    while not json_depth_exceeds(json.dumps({**body, "nested": nested}).encode(), depth - 1):
        nested = [nested]
    body["nested"] = nested
    raw = json.dumps(body).encode()
    body["padding"] = "x" * (size - len(raw))
    raw = json.dumps(body).encode()
    assert len(raw) == size and json_depth_exceeds(raw, depth - 1) and not json_depth_exceeds(raw, depth)
    return raw


@pytest.mark.parametrize(
    ("depth", "size", "accepted"), [(32, 1_048_576, True), (33, 1000, False), (8, 1_048_577, False)]
)
def test_a_backup_end_event_at_the_body_limits_is_served_and_one_past_them_refused_before_any_call(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, depth: int, size: int, accepted: bool
) -> None:
    own = seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (3, 2, 1)])
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")

    answer = platform.invoke(_at_limits(backup_end(own[-1]), depth, size), invoke_type="detached").wait(30)

    document = answer.json()
    if accepted:
        assert [entry["backupId"] for entry in document["deleted"]] == own[:2], document
    else:
        assert document["code"] in ("InvalidJson", "PayloadTooLarge") and emulator.calls == []
        assert terminated(emulator) == 0


def test_a_compartment_list_failing_on_its_second_page_deletes_nothing_it_listed_and_says_the_sweep_is_incomplete(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2", BACKUP_MAX_ATTEMPTS="1")
    emulator.add_volume(GONE, lifecycle_state="TERMINATED")
    gone = [emulator.add_backup(GONE, time_created=ago(900 - n / 10), freeform_tags=OWN) for n in range(1001)]
    named = seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (4, 3, 2)])
    # The compartment's first page goes through; its second is refused.
    emulator.inject(Fault("listVolumeBackups"), Fault("listVolumeBackups", status=400, code="InvalidParameter"))

    summary = tick(platform, VOLUMES[0])

    after = states(emulator)
    assert all(after[b] == "AVAILABLE" for b in gone)  # of a list cut short, nothing is deleted
    assert [after[b] for b in named] == ["TERMINATED", "TERMINATED", "AVAILABLE"]  # by its own list, as usual
    assert summary["orphans"]["complete"] is False and summary["orphans"]["deleted"] == 0
    pages = [(c.query.get("page"), c.status) for c in emulator.calls if c.operation == "listVolumeBackups"]
    assert pages[:2] == [(None, 200), (["1000"], 400)]


def test_a_burst_of_forged_schedule_links_costs_no_more_past_daily_points_than_one_true_tick(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    # Whoever may invoke can send bodies shaped as the function's own chain links: their backups count like a
    # tick's. With a daily tier the burst only competes for today's point: the past days' points stay.
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_KEEP_DAILY="7")
    days = seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (7, 6, 5, 4, 3, 2, 1)])

    for n in range(3):
        forged = {
            "source": "batch",
            "trigger": "schedule",
            "sourceRef": f"forged-{n}",
            "idempotencyKey": f"forged-{n}",
            "timeLabel": f"forged-{n}",
            "batch": 0,
            "type": "INCREMENTAL",
            "targets": [{"kind": "volume", "id": VOLUMES[0]}],
        }
        assert platform.invoke(forged, invoke_type="detached").wait(30).status == 200

    after = states(emulator)
    assert [after[b] for b in days] == ["TERMINATED"] + ["AVAILABLE"] * 6  # as one true tick today would leave it
    assert len(emulator.creates()) == 3
