"""Retry policy for Palette calls: exponential backoff with jitter, and `Retry-After`.

Pure functions and a small frozen policy, kept apart from the HTTP code so they can be tested
exactly (a seeded `random.Random`, a fixed clock). The jitter is "equal jitter": a delay is
drawn from [d/2, d] where d = min(cap, base * 2**attempt), so clients that failed together
spread out, yet nobody retries immediately. A server's `Retry-After` (delta seconds or an
HTTP date, RFC 9110 section 10.2.3) is honoured as is, without jitter: the server asked for
that wait.
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass
from datetime import UTC


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop: at most `max_retries` retries (max_retries + 1 attempts)."""

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("backoff_base and backoff_max must be >= 0")

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the delay before retry number `attempt + 1` (attempt counts from 0)."""
        # min() before the power would still overflow for huge attempts; cap the exponent.
        return min(self.backoff_max, self.backoff_base * (2.0 ** min(attempt, 62)))

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """A jittered delay in [ceiling/2, ceiling]."""
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header, or None when absent or unreadable.

    `now` is the current POSIX time, used for the HTTP-date form; a date in the past means
    "retry now" (0). Negative or non-finite numbers are unreadable, not zero.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            return None
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; "-0000" parses zone-less but means the same.
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
