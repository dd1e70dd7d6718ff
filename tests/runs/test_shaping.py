"""Unit tests: the settings of full backups on a cadence and of copied volume tags, and which tags are copied."""

from __future__ import annotations

import pytest

from backup_handler.errors import ConfigurationError
from backup_handler.runs.source_tags import copied_tags
from backup_handler.settings import MAX_COPIED_TAGS, Settings
from backup_handler.vocabulary.fields import MAX_TAGS, RESERVED_TAGS


def test_full_every_takes_the_cadence_grammar_and_nothing_else() -> None:
    assert Settings.from_env({"BACKUP_FULL_EVERY": "7d"}).full_every == "7d"
    assert Settings.from_env({"BACKUP_FULL_EVERY": "1mo"}).full_every == "1mo"
    assert Settings.from_env({}).full_every is None
    for wrong in ("7", "7D", "1w2d", " 7d", "0d", "7 days", "true"):
        with pytest.raises(ConfigurationError) as refused:
            Settings.from_env({"BACKUP_FULL_EVERY": wrong})
        assert refused.value.extra["errors"][0]["field"] == "BACKUP_FULL_EVERY"


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("CostCenter", ("CostCenter",)),
        ("CostCenter, Owner", ("CostCenter", "Owner")),
        ('["CostCenter", "Owner name"]', ("CostCenter", "Owner name")),
    ],
)
def test_copy_volume_tags_is_a_comma_separated_or_json_list_of_keys(text: str, keys: tuple[str, ...]) -> None:
    settings = Settings.from_env({"BACKUP_COPY_VOLUME_TAGS": text})
    assert settings.copy_volume_tags == keys
    assert settings.shapes_bodies


@pytest.mark.parametrize(
    "text",
    [
        "CostCenter,,Owner",  # an empty key
        "A,A",  # twice
        '["A", 1]',  # not a string
        '{"A": "B"}',  # not a list
        "[A, B]",  # not JSON
        "backup-trigger",  # the function's own
        ",".join(f"k{n}" for n in range(MAX_COPIED_TAGS + 1)),  # too many
        "x" * 101,  # longer than a tag key may be
    ],
)
def test_copy_volume_tags_refuses_what_it_cannot_copy_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"BACKUP_COPY_VOLUME_TAGS": text})
    assert refused.value.extra["errors"][0]["field"] == "BACKUP_COPY_VOLUME_TAGS"


def test_nothing_is_shaped_unless_configured() -> None:
    assert not Settings().shapes_bodies


def _body(freeform: dict[str, str], defined: dict[str, dict[str, str]] | None = None) -> dict[str, object]:
    stamped = {tag: "x" for tag in ("backup-trigger", "backup-source", "backup-deployment", "backup-kind")}
    return {"freeformTags": {**freeform, **stamped}, **({"definedTags": defined} if defined else {})}


def test_only_allow_listed_keys_the_volume_carries_are_copied_exactly_as_keyed() -> None:
    copied = copied_tags(("CostCenter", "Owner"), {"CostCenter": "42", "owner": "bob", "x": "y"}, _body({}))
    assert copied.tags == {"CostCenter": "42"} and copied.dropped == ()


def test_a_key_the_body_already_holds_is_never_replaced_by_the_volumes() -> None:
    copied = copied_tags(("Owner", "backup-kind"), {"Owner": "alice", "backup-kind": "forged"}, _body({"Owner": "ops"}))
    assert copied.tags == {}


def test_copied_tags_fill_only_the_room_oci_leaves_and_the_rest_are_dropped_with_a_reason() -> None:
    free = MAX_TAGS - len(RESERVED_TAGS)
    body = _body({f"c{n}": "v" for n in range(free - 3)}, {"Ops": {"tier": "gold"}})  # room for 2
    copied = copied_tags(("A", "B", "C"), {"A": "1", "B": "2", "C": "3"}, body)
    assert copied.tags == {"A": "1", "B": "2"}
    assert copied.dropped == (f"C: the backup would carry more than {MAX_TAGS} tags",)


def test_a_value_longer_than_oci_allows_is_dropped_not_cut() -> None:
    copied = copied_tags(("A",), {"A": "v" * 257}, _body({}))
    assert copied.tags == {} and "longer than 256" in copied.dropped[0]


def test_an_invokers_type_travels_with_a_batch_and_still_wins_there() -> None:
    from datetime import UTC, datetime

    from backup_handler.triggers.events import BatchBody
    from backup_handler.triggers.request import Target, build_request
    from localdev.samples import VOLUMES
    from tests.conftest import event_json

    settings = Settings(full_every="7d", deployment_id="app/fn")
    now = datetime.now(UTC)
    given = build_request(
        {**event_json("manual-selector.json"), "type": "FULL"}, headers={}, settings=settings, now=now
    )
    unsaid = build_request(event_json("manual-selector.json"), headers={}, settings=settings, now=now)
    assert given.type_given and not unsaid.type_given
    target = [Target(kind="volume", resource_id=VOLUMES[0])]

    for request in (given, unsaid):
        body = request.batch_body(1, target)
        batch = build_request(body, headers={}, settings=settings, now=now, trigger="batch")
        assert batch.type_given == request.type_given
        assert ("typeGiven" in body) == request.type_given
        assert BatchBody.model_validate(body).type_given == request.type_given


class _Recorder:
    """A Block Storage that records each create's body and answers with a backup of the target."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []

    def prepare(self) -> None:
        pass

    def create_backup(self, kind: str, body: dict[str, object], *, retry_token: str, budget_seconds: float) -> object:
        from backup_handler.oci.blockstorage import Created

        self.bodies.append(body)
        return Created({"id": "ocid1.volumebackup.oc1.iad.b1", "volumeId": body["volumeId"], "type": body["type"]}, "r")


def test_a_defect_while_shaping_never_fails_the_backup_it_is_made_as_configured_and_noted() -> None:
    import time
    from datetime import UTC, datetime
    from typing import Any

    from backup_handler.oci.api import OciApi
    from backup_handler.runs.backup import UNSHAPED, BackupRunner
    from backup_handler.runs.shaping import Shaper
    from backup_handler.triggers.request import build_request
    from localdev.samples import VOLUMES

    class Broken(Shaper):
        def shape(self, *args: Any, **kwargs: Any) -> Any:
            raise KeyError("a defect")

    settings = Settings(full_every="7d", deployment_id="app/fn")
    recorder = _Recorder()
    runner = BackupRunner(settings, recorder, Broken(settings, OciApi(settings)))  # type: ignore[arg-type]
    request = build_request(
        {"source": "schedule", "volumeIds": [VOLUMES[0]]}, headers={}, settings=settings, now=datetime.now(UTC)
    )

    result = runner.run(request, time.monotonic() + 10)

    [outcome] = result.outcomes
    assert outcome.state == "created" and outcome.notes == (UNSHAPED,)
    assert recorder.bodies[0]["type"] == "INCREMENTAL"
