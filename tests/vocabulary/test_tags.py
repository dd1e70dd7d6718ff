"""Unit tests: the one rule every tag comparison follows (OCI's)."""

from __future__ import annotations

from typing import Any

import pytest

from backup_handler.vocabulary.tags import carries_defined, carries_freeform, defined_value, freeform_value


@pytest.mark.parametrize(
    ("tags", "key", "value"),
    [
        ({"Project": "a"}, "Project", "a"),
        ({"Project": "a"}, "project", None),
        ({"Project": 5}, "Project", None),
        ({}, "Project", None),
        (None, "Project", None),
        ("Project", "Project", None),
    ],
)
def test_free_form_keys_are_exact_and_only_strings_are_values(tags: Any, key: str, value: str | None) -> None:
    assert freeform_value(tags, key) == value


def test_defined_names_fold_case_and_values_do_not() -> None:
    tags = {"Operations": {"CostCenter": "42"}}

    assert defined_value(tags, "operations", "costcenter") == "42"
    assert defined_value(tags, "OPERATIONS", "COSTCENTER") == "42"
    assert carries_defined(tags, {"operations": {"costcenter": "42"}})
    assert not carries_defined(tags, {"operations": {"costcenter": "042"}})


@pytest.mark.parametrize("wanted", ["None", "", "null"])
def test_a_missing_tag_matches_no_value(wanted: str) -> None:
    assert not carries_defined({}, {"Operations": {"tier": wanted}})
    assert not carries_defined({"Operations": {}}, {"Operations": {"tier": wanted}})
    assert not carries_defined({"Operations": {"tier": None}}, {"Operations": {"tier": wanted}})
    assert not carries_freeform({}, {"tier": wanted})
    assert not carries_freeform({"tier": None}, {"tier": wanted})


def test_an_empty_selection_of_tags_matches_anything() -> None:
    assert carries_freeform(None, {}) and carries_defined(None, {})
