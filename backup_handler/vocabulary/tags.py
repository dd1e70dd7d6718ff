"""How tags are compared: one rule, used wherever the function compares tags.

Oracle's rules (Tagging documentation and the Identity API reference):

- **Free-form tags**: keys and values are case sensitive — ``Project`` and ``project`` are two
  distinct keys ("Understanding Free-form Tags").
- **Defined tags**: tag namespace names and tag key definition names are case insensitive —
  "``myNamespace`` and ``mynamespace`` are not allowed in the same tenancy", "``myTag`` and
  ``mytag`` are not allowed in the same namespace" (CreateTagNamespace, CreateTag) — so a
  namespace or key spelled in another case names the same tag. Values are compared exactly.
- A tag **is present** only when its key is: a missing key never matches a value, whatever
  the value (not even ``"None"`` or ``""``), and a value that is not a string never matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def defined_name(name: str) -> str:
    """A defined tag namespace or key name as OCI tells names apart (case insensitive)."""
    return name.casefold()


def freeform_value(tags: Any, key: str) -> str | None:
    """The value of free-form tag ``key`` (exact, case-sensitive key), or None when absent or not a string."""
    if not isinstance(tags, Mapping):
        return None
    value = tags.get(key)
    return value if isinstance(value, str) else None


def defined_value(tags: Any, namespace: str, key: str) -> str | None:
    """The value of defined tag ``namespace.key`` (names case insensitive), or None when absent or not a string."""
    if not isinstance(tags, Mapping):
        return None
    wanted_namespace, wanted_key = defined_name(namespace), defined_name(key)
    for present_namespace, pairs in tags.items():
        if not isinstance(present_namespace, str) or defined_name(present_namespace) != wanted_namespace:
            continue
        if not isinstance(pairs, Mapping):
            continue
        for present_key, value in pairs.items():
            if isinstance(present_key, str) and defined_name(present_key) == wanted_key and isinstance(value, str):
                return value
    return None


def carries_freeform(tags: Any, wanted: Mapping[str, str]) -> bool:
    """Whether ``tags`` holds every free-form pair of ``wanted`` (keys and values exactly)."""
    return all(freeform_value(tags, key) == value for key, value in wanted.items())


def carries_defined(tags: Any, wanted: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether ``tags`` holds every defined tag of ``wanted`` (names case insensitive, values exactly)."""
    return all(
        defined_value(tags, namespace, key) == value
        for namespace, pairs in wanted.items()
        for key, value in pairs.items()
    )


def same_freeform_key(a: str, b: str) -> bool:
    """Whether two free-form keys name the same tag (they do only when spelled identically)."""
    return a == b


def first_missing_freeform(tags: Any, wanted: Mapping[str, str]) -> tuple[str, str] | None:
    """The first free-form pair of ``wanted`` that ``tags`` does not hold, or None when it holds them all."""
    return next(((key, value) for key, value in wanted.items() if freeform_value(tags, key) != value), None)


def first_missing_defined(tags: Any, wanted: Mapping[str, Mapping[str, str]]) -> tuple[str, str, str] | None:
    """The first defined tag of ``wanted`` that ``tags`` does not hold, or None when it holds them all."""
    for namespace, pairs in wanted.items():
        for key, value in pairs.items():
            if defined_value(tags, namespace, key) != value:
                return namespace, key, value
    return None


def first_carried_freeform(tags: Any, pairs: Mapping[str, str]) -> tuple[str, str] | None:
    """The first free-form pair of ``pairs`` that ``tags`` holds (any one will do), or None."""
    return next(((key, value) for key, value in pairs.items() if freeform_value(tags, key) == value), None)


def first_carried_defined(tags: Any, pairs: Mapping[str, Mapping[str, str]]) -> tuple[str, str, str] | None:
    """The first defined tag of ``pairs`` that ``tags`` holds (names case insensitive, values exactly), or None."""
    for namespace, keys in pairs.items():
        for key, value in keys.items():
            if defined_value(tags, namespace, key) == value:
                return namespace, key, value
    return None


def shared_freeform(a: Mapping[str, str], b: Mapping[str, str]) -> tuple[str, str] | None:
    """A free-form pair both ``a`` and ``b`` name (the same key, exactly, and the same value), or None."""
    return first_carried_freeform(a, b)


def shared_defined(
    a: Mapping[str, Mapping[str, str]], b: Mapping[str, Mapping[str, str]]
) -> tuple[str, str, str] | None:
    """A defined tag both ``a`` and ``b`` name (names case insensitive, the same value), as ``b`` spells it."""
    return first_carried_defined(a, b)
