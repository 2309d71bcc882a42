"""Server settings read from the environment, which `firmseal serve` fills from its options.

uvicorn starts each HTTP worker process from an import string, so the environment is how
the options reach every process.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass

from firmseal.errors import InvalidInputError


@dataclass(frozen=True)
class ServerConfig:
    signing_workers: int = 1
    lease: dt.timedelta = dt.timedelta(seconds=60)
    max_body_bytes: int = 256 * 1024
    rate_limit: float = 0.0
    rate_burst: int = 1


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInputError(f"invalid {name}={raw!r}; expected a number") from None
    if value < minimum:
        raise InvalidInputError(f"invalid {name}={raw!r}; expected at least {minimum}")
    return value


def load_server_config(environ: Mapping[str, str] | None = None) -> ServerConfig:
    """Read FIRMSEAL_SIGNING_WORKERS, FIRMSEAL_LEASE_SECONDS, FIRMSEAL_MAX_BODY_BYTES,
    FIRMSEAL_RATE_LIMIT (requests per second per access key, 0 for none) and
    FIRMSEAL_RATE_BURST."""
    env = os.environ if environ is None else environ
    return ServerConfig(
        signing_workers=int(_number(env, "FIRMSEAL_SIGNING_WORKERS", 1, 0)),
        lease=dt.timedelta(seconds=_number(env, "FIRMSEAL_LEASE_SECONDS", 60, 1)),
        max_body_bytes=int(_number(env, "FIRMSEAL_MAX_BODY_BYTES", 256 * 1024, 1024)),
        rate_limit=_number(env, "FIRMSEAL_RATE_LIMIT", 0.0, 0.0),
        rate_burst=int(_number(env, "FIRMSEAL_RATE_BURST", 1, 1)),
    )
