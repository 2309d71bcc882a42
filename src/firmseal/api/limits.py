"""Per-process helpers on the request path: a credential cache and a per-key rate limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from firmseal.service.principals import Credentials

CACHE_SECONDS = 30.0


class CredentialCache:
    """Caches access key lookups for 30 seconds, so SigV4 checks skip the database and the
    decryption on repeated calls; unknown keys are not cached."""

    def __init__(self, lookup: Callable[[str], Credentials | None]) -> None:
        self._lookup = lookup
        self._entries: dict[str, tuple[float, Credentials]] = {}
        self._lock = threading.Lock()

    def __call__(self, access_key_id: str) -> Credentials | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(access_key_id)
        if entry is not None and now - entry[0] < CACHE_SECONDS:
            return entry[1]
        credentials = self._lookup(access_key_id)
        if credentials is not None:
            with self._lock:
                self._entries[access_key_id] = (now, credentials)
        return credentials


class RateLimiter:
    """A token bucket per access key: `rate` requests per second, bursts of `burst`.

    A rate of 0 turns the limit off. The buckets live in one process, so with several HTTP
    worker processes a key may make up to that many times `rate`.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        if self._rate <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        return allowed
