"""Per-process helpers on the request path: a secret cache and a per-key rate limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from firmseal.service.principals import Credentials, Principal


class CredentialCache:
    """Caches decrypted secrets by access key and sealed secret, so SigV4 checks skip the
    AES-GCM decryption on repeated calls.

    Each call still reads the access key's row, one indexed SELECT, so a key that
    `firmseal principal delete` or `rotate` removed stops working on the next request.
    """

    def __init__(
        self,
        lookup: Callable[[str], tuple[Principal, str] | None],
        open_secret: Callable[[str, str], str],
    ) -> None:
        self._lookup = lookup
        self._open_secret = open_secret
        self._secrets: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def __call__(self, access_key_id: str) -> Credentials | None:
        found = self._lookup(access_key_id)
        if found is None:
            with self._lock:
                self._secrets.pop(access_key_id, None)
            return None
        principal, sealed = found
        with self._lock:
            entry = self._secrets.get(access_key_id)
        if entry is not None and entry[0] == sealed:
            return Credentials(principal, entry[1])
        secret = self._open_secret(access_key_id, sealed)
        with self._lock:
            self._secrets[access_key_id] = (sealed, secret)
        return Credentials(principal, secret)


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
