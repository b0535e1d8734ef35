"""Retry policy pieces: Retry-After parsing (seconds and HTTP date) and jitter bounds."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from axle.providers.palette.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        (None, None),
        ("", None),
        ("-3", None),
        ("inf", None),
        ("soon", None),
    ],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_retry_after_http_date() -> None:
    later = datetime.fromtimestamp(NOW + 42, tz=UTC)
    assert parse_retry_after(format_datetime(later, usegmt=True), NOW) == pytest.approx(42)
    assert parse_retry_after("Fri, 02 Jan 2026 03:04:15 GMT", NOW) == pytest.approx(10)


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", NOW) == 0.0


def test_jitter_stays_within_half_to_full_ceiling() -> None:
    policy = RetryPolicy(max_retries=10, backoff_base=0.5, backoff_max=30.0)
    rng = random.Random(1)
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2**attempt)
        assert policy.ceiling(attempt) == ceiling
        draws = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in draws)
        assert len(set(draws)) > 1  # actually jittered


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert RetryPolicy(backoff_max=5.0).ceiling(10_000) == 5.0


def test_policy_rejects_negative_bounds() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_base=-1)
