"""Settings of the `pkcs11` backend, read from FIRMSEAL_PKCS11_* environment variables.

The PIN comes from FIRMSEAL_PKCS11_PIN or from the file named by FIRMSEAL_PKCS11_PIN_FILE,
never from a command-line argument, which other local users can read in the process list.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from firmseal.errors import InvalidInputError
from firmseal.kms.secret import Secret

log = logging.getLogger(__name__)

MODULE_VARIABLE = "FIRMSEAL_PKCS11_MODULE"
TOKEN_VARIABLE = "FIRMSEAL_PKCS11_TOKEN"  # noqa: S105 (a variable name, not a secret)
PIN_VARIABLE = "FIRMSEAL_PKCS11_PIN"
PIN_FILE_VARIABLE = "FIRMSEAL_PKCS11_PIN_FILE"
MAX_SESSIONS_VARIABLE = "FIRMSEAL_PKCS11_MAX_SESSIONS"
DEFAULT_MAX_SESSIONS = 4
_SESSION_LIMIT = 64


@dataclass(frozen=True)
class Pkcs11Config:
    """Module path, token label, user PIN and session pool size of the pkcs11 backend."""

    module_path: Path
    token_label: str
    pin: Secret
    max_sessions: int = DEFAULT_MAX_SESSIONS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Pkcs11Config:
        """Read the configuration; raise InvalidInputError naming a missing or bad variable."""
        env = os.environ if environ is None else environ
        return cls(
            module_path=Path(_required(env, MODULE_VARIABLE, "the path of the PKCS#11 module")),
            token_label=_required(env, TOKEN_VARIABLE, "the label of the token"),
            pin=_read_pin(env),
            max_sessions=_max_sessions(env),
        )


def is_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Return whether FIRMSEAL_PKCS11_MODULE is set, so the backend is meant to be used."""
    env = os.environ if environ is None else environ
    return bool(env.get(MODULE_VARIABLE))


def _required(env: Mapping[str, str], variable: str, meaning: str) -> str:
    value = env.get(variable, "")
    if not value:
        raise InvalidInputError(f"{variable} is not set; set it to {meaning}")
    return value


def _read_pin(env: Mapping[str, str]) -> Secret:
    pin = env.get(PIN_VARIABLE, "")
    pin_file = env.get(PIN_FILE_VARIABLE, "")
    if pin and pin_file:
        raise InvalidInputError(
            f"both {PIN_VARIABLE} and {PIN_FILE_VARIABLE} are set; unset one of them"
        )
    if pin:
        return Secret(pin)
    if pin_file:
        return _read_pin_file(Path(pin_file))
    raise InvalidInputError(
        f"no PKCS#11 user PIN configured; set {PIN_FILE_VARIABLE} to a file containing the "
        f"PIN (preferred) or {PIN_VARIABLE}"
    )


def _read_pin_file(path: Path) -> Secret:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read the PIN file {path} named by {PIN_FILE_VARIABLE}: {exc.strerror}"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "PIN file %s is accessible to group or others (mode %o); run chmod 600 on it",
            path,
            stat.S_IMODE(mode),
        )
    pin = text.rstrip("\r\n")
    if not pin:
        raise InvalidInputError(f"the PIN file {path} named by {PIN_FILE_VARIABLE} is empty")
    return Secret(pin)


def _max_sessions(env: Mapping[str, str]) -> int:
    text = env.get(MAX_SESSIONS_VARIABLE, "")
    if not text:
        return DEFAULT_MAX_SESSIONS
    if not text.isdigit() or not 1 <= int(text) <= _SESSION_LIMIT:
        raise InvalidInputError(
            f"invalid {MAX_SESSIONS_VARIABLE}={text!r}; expected a whole number from 1 to "
            f"{_SESSION_LIMIT}"
        )
    return int(text)
