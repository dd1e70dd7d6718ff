"""Unit tests: retry tokens are deterministic, distinct, and within the API's limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backup_handler.runs.idempotency import retry_token
from localdev.samples import VOLUMES


def test_token_is_the_same_for_the_same_key_and_target() -> None:
    assert retry_token("event:e1", VOLUMES[0]) == retry_token("event:e1", VOLUMES[0])


def test_tokens_differ_by_key_target_and_generation() -> None:
    tokens = {
        retry_token("event:e1", VOLUMES[0]),
        retry_token("event:e2", VOLUMES[0]),
        retry_token("event:e1", VOLUMES[1]),
        retry_token("event:e1", VOLUMES[0], generation=1),
    }
    assert len(tokens) == 4


@given(st.text(min_size=1, max_size=2000), st.text(min_size=1, max_size=300), st.integers(0, 5))
def test_tokens_are_always_1_to_64_printable_characters(key: str, target: str, generation: int) -> None:
    token = retry_token(key, target, generation)

    assert 1 <= len(token) <= 64
    assert token.isascii() and token.isalnum()
