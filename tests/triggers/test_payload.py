"""Unit tests: body size and nesting limits, enforced before parsing."""

from __future__ import annotations

import pytest

from backup_handler.errors import InvalidJson, PayloadTooLarge
from backup_handler.triggers.payload import EMPTY, decode, json_depth_exceeds


def test_depth_counts_nesting_not_brackets_inside_strings() -> None:
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[["}', 2)
    assert not json_depth_exceeds(b'{"a": "\\"[[[[[[["}', 2)
    assert json_depth_exceeds(b'{"a": [[[1]]]}', 3)
    assert not json_depth_exceeds(b'{"a": [[[1]]]}', 4)


def test_a_million_levels_of_nesting_is_refused_without_recursion() -> None:
    with pytest.raises(InvalidJson, match="deeper than 32"):
        decode(b"[" * 1_000_000 + b"]" * 1_000_000, max_bytes=4_000_000, max_depth=32)


def test_body_over_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge):
        decode(b" " * 2049, max_bytes=2048, max_depth=32)


@pytest.mark.parametrize("raw", [b"", b"  \n\t "])
def test_empty_body_is_empty_not_null(raw: bytes) -> None:
    assert decode(raw, max_bytes=1024, max_depth=8) is EMPTY
    assert decode(b"null", max_bytes=1024, max_depth=8) is None


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b"{'single': 'quotes'}", b"1" * 5000, b"{} {}"])
def test_non_json_is_invalid_json(raw: bytes) -> None:
    with pytest.raises(InvalidJson):
        decode(raw, max_bytes=10_000, max_depth=8)


def test_utf8_bom_is_tolerated() -> None:
    assert decode(b'\xef\xbb\xbf{"a": 1}', max_bytes=1024, max_depth=8) == {"a": 1}


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1e400}', b"[1e999]"])
def test_nan_infinity_and_out_of_range_numbers_are_not_json(raw: bytes) -> None:
    with pytest.raises(InvalidJson):
        decode(raw, max_bytes=1000, max_depth=8)
