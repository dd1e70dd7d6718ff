"""The committed JSON Schemas: what the models produce now, and every sample body validates against its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from localdev.schema import BODIES, SCHEMAS, Body, render, stale
from tests.conftest import EVENTS

SAMPLES = [
    (body, path)
    for body in BODIES
    if body.samples
    for path in sorted(EVENTS.glob(body.samples))
    if path.stat().st_size  # schedule-empty.json is an empty body, which no schema describes
]


def committed(body: Body) -> dict[str, Any]:
    value = json.loads((SCHEMAS / body.filename).read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


def validator(body: Body) -> Draft202012Validator:
    return Draft202012Validator(committed(body))


@pytest.mark.parametrize("body", BODIES, ids=lambda body: body.name)
def test_the_committed_schema_is_what_the_model_produces_now(body: Body) -> None:
    path = SCHEMAS / body.filename

    assert path.exists(), f"schemas/{body.filename} is missing: run python -m localdev.schema"
    assert path.read_text(encoding="utf-8") == render(body), "a model changed: run python -m localdev.schema"


def test_a_model_change_makes_the_check_fail_until_regenerated(tmp_path: Path) -> None:
    for body in BODIES:
        (tmp_path / body.filename).write_text(render(body), encoding="utf-8")
    assert stale(tmp_path) == []

    edited = committed(BODIES[0])
    edited["properties"].pop("idempotencyKey")
    (tmp_path / BODIES[0].filename).write_text(json.dumps(edited, indent=2) + "\n", encoding="utf-8")

    assert stale(tmp_path) == [BODIES[0].filename]


@pytest.mark.parametrize("body", BODIES, ids=lambda body: body.name)
def test_each_schema_is_a_valid_2020_12_schema_with_its_identity(body: Body) -> None:
    schema = committed(body)

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(body.name) and schema["title"] and schema["description"]


def test_the_manual_schedule_and_selector_bodies_each_have_a_schema() -> None:
    assert {body.name for body in BODIES} >= {"manual-request", "schedule", "selector"}
    assert {path.name for _, path in SAMPLES} >= {"manual.json", "manual-selector.json", "schedule.json"}


@pytest.mark.parametrize(("body", "path"), SAMPLES, ids=lambda item: getattr(item, "name", ""))
def test_every_sample_validates_against_its_schema_and_its_model(body: Body, path: Path) -> None:
    sample = json.loads(path.read_bytes())

    errors = [error.message for error in validator(body).iter_errors(sample)]

    assert errors == []
    body.model.model_validate(sample)


@pytest.mark.parametrize(
    ("name", "sample"),
    [
        ("manual-request", {"volumeID": "ocid1.volume.oc1.iad.abc"}),  # a typo of volumeId
        ("manual-request", {"volumeId": "ocid1.volume.oc1.iad.abc", "type": "HOURLY"}),
        ("manual-request", {"volumeId": "ocid1.volume.oc1.iad.abc", "idempotencyKey": "has space"}),
        ("schedule", {"volumeIds": ["ocid1.volume.oc1.iad.abc"]}),  # no "source"
        ("schedule", {"source": "schedule", "volumeIds": []}),
        ("selector", {"freeformTags": {"backup": "daily"}}),  # no compartmentId
        ("selector", {"compartmentId": "ocid1.compartment.oc1..a", "kinds": ["instance"]}),
    ],
)
def test_a_body_the_function_refuses_is_refused_by_its_schema(name: str, sample: dict[str, Any]) -> None:
    body = next(body for body in BODIES if body.name == name)

    assert not validator(body).is_valid(sample)
