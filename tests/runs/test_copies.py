"""Copies as OCI limits them: which refusals are limits (retried later), and the copy's retry token."""

from __future__ import annotations

import pytest

from backup_handler.errors import ApiError
from backup_handler.runs.copies import copy_token, is_limit

BODY = {"destinationRegion": "us-phoenix-1", "displayName": "n (copy 0)"}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "TooManyRequests"),
        (409, "Conflict"),
        (409, "IncorrectState"),
        (400, "LimitExceeded"),
        (400, "QuotaExceeded"),
        (403, "CopyLimitReached"),
        (503, "ServiceUnavailable"),
    ],
)
def test_a_refusal_that_can_be_a_limit_is_retried_later(status: int, code: str) -> None:
    assert is_limit(ApiError(code, "refused", status))


@pytest.mark.parametrize(("status", "code"), [(400, "InvalidParameter"), (404, "NotAuthorizedOrNotFound")])
def test_other_refusals_are_not_limits(status: int, code: str) -> None:
    assert not is_limit(ApiError(code, "refused", status))


def test_the_copy_token_names_the_whole_request_and_its_generation() -> None:
    source = "ocid1.volumebackup.oc1.iad.s"
    token = copy_token(source, BODY, 0)
    assert token == copy_token(source, dict(reversed(BODY.items())), 0) and len(token) <= 64
    assert token != copy_token(source, {**BODY, "kmsKeyId": "ocid1.key.oc1.phx.k"}, 0)
    assert token != copy_token(source, {**BODY, "destinationRegion": "eu-frankfurt-1"}, 0)
    assert token != copy_token(source, BODY, 1)
    assert token != copy_token("ocid1.volumebackup.oc1.iad.t", BODY, 0)
