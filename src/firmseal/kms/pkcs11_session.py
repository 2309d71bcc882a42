"""PKCS#11 module loading and a pool of logged-in sessions per token.

PKCS#11 keeps the login state per application and token: the first session logs in with the
user PIN, and every later session of the process on that token shares the login until the
last one closes. The pool therefore keeps one login session open and hands out further
sessions, each used by one thread at a time, because a session runs one operation at a time.

python-pkcs11 0.10 calls C_Initialize with a NULL argument. PKCS#11 defines that as an
application that does not call the module from several threads at once, and SoftHSM2 2.6
then disables its internal mutexes (C_Initialize in SoftHSM.cpp). Every call into a module
is therefore made under one lock per module, while sessions still interleave between calls
(find the key, then sign).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pkcs11
from pkcs11 import exceptions as p11

from firmseal.errors import AccessDeniedError, BackendError, InvalidInputError
from firmseal.kms.pkcs11_config import MODULE_VARIABLE, PIN_FILE_VARIABLE, Pkcs11Config

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Library  # noqa: N812 (a class named lib)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Errors after which the session, the login or the token itself is gone. The pool reopens
# everything and the caller retries once.
LOST_SESSION_ERRORS: tuple[type[p11.PKCS11Error], ...] = (
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.DeviceRemoved,
    p11.DeviceError,
    p11.TokenNotPresent,
    p11.TokenNotRecognised,
    p11.UserNotLoggedIn,
)

_registry_lock = threading.RLock()
_module_locks: dict[str, threading.RLock] = {}
_pools: dict[tuple[str, str], SessionPool] = {}


def load_module(path: Path) -> Pkcs11Library:
    """Load (once per process) the PKCS#11 module at `path`; raise BackendError if it fails."""
    if not path.is_file():
        raise BackendError(
            f"PKCS#11 module {path} not found; set {MODULE_VARIABLE} to the path of the "
            "module's shared library, for example /usr/lib/softhsm/libsofthsm2.so"
        )
    try:
        return pkcs11.lib(str(path))
    except p11.PKCS11Error as exc:
        raise BackendError(f"cannot load PKCS#11 module {path}: {exc}") from exc


def module_lock(path: Path) -> threading.RLock:
    with _registry_lock:
        return _module_locks.setdefault(str(path), threading.RLock())


def pool_for(config: Pkcs11Config) -> SessionPool:
    """Return the process-wide pool for the configured module and token, creating it once."""
    key = (str(config.module_path), config.token_label)
    with _registry_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = SessionPool(config)
    if pool.config.pin != config.pin:
        raise InvalidInputError(
            f"PKCS#11 token {config.token_label!r} is already logged in with another PIN in "
            "this process; use one PIN per token"
        )
    return pool


def close_pools() -> None:
    """Close every pooled session, which logs each token out; later use logs in again."""
    with _registry_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def error_name(exc: BaseException) -> str:
    """Return the exception's class name and message, such as 'PinIncorrect'."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SessionPool:
    """Up to `config.max_sessions` sessions on one token, plus the session that logged in."""

    def __init__(self, config: Pkcs11Config) -> None:
        self.config = config
        self._module_lock = module_lock(config.module_path)
        self._state_lock = threading.Lock()
        self._available = threading.BoundedSemaphore(config.max_sessions)
        self._idle: list[pkcs11.Session] = []
        self._login_session: pkcs11.Session | None = None
        self._token: pkcs11.Token | None = None
        self._generation = 0

    def call(self, operation: Callable[[], T]) -> T:
        """Run `operation` (one or more module calls) under the module lock."""
        # NOTE: this serialises calls even into modules that are thread-safe, such as network
        # HSM clients. Dropping the lock needs a binding that passes CKF_OS_LOCKING_OK.
        with self._module_lock:
            return operation()

    def token(self) -> pkcs11.Token:
        """Return the configured token, logging in first if no session is open."""
        with self._state_lock:
            self._ensure_login()
            assert self._token is not None
            return self._token

    @contextlib.contextmanager
    def session(self) -> Iterator[pkcs11.Session]:
        """Lend a logged-in session to one thread; reset the pool if the session is lost."""
        with self._available:
            session, generation = self._checkout()
            try:
                yield session
            except LOST_SESSION_ERRORS:
                self._discard(session)
                self.reset(generation)
                raise
            except BaseException:
                self._checkin(session, generation)
                raise
            self._checkin(session, generation)

    def reset(self, generation: int | None = None) -> None:
        """Close all pooled sessions and the login session, unless another thread already did.

        `generation` is the pool generation the caller's lost session came from. A reset
        for an older generation is skipped, so threads that lose sessions together reset once.
        """
        with self._state_lock:
            if generation is not None and generation != self._generation:
                return
            self._generation += 1
            sessions = [*self._idle, *([self._login_session] if self._login_session else [])]
            self._idle.clear()
            self._login_session = None
            self._token = None
        for session in sessions:
            self._discard(session)

    def close(self) -> None:
        self.reset()

    def _checkout(self) -> tuple[pkcs11.Session, int]:
        with self._state_lock:
            self._ensure_login()
            generation = self._generation
            if self._idle:
                return self._idle.pop(), generation
            assert self._token is not None
            token = self._token
        session = self._open(token, with_pin=False)
        return session, generation

    def _checkin(self, session: pkcs11.Session, generation: int) -> None:
        with self._state_lock:
            if generation == self._generation:
                self._idle.append(session)
                return
        self._discard(session)

    def _discard(self, session: pkcs11.Session) -> None:
        try:
            self.call(session.close)
        except p11.PKCS11Error as exc:
            log.debug("closing a lost PKCS#11 session failed: %s", error_name(exc))

    def _ensure_login(self) -> None:
        """Find the token and open the login session; the caller holds the state lock."""
        if self._login_session is not None:
            return
        lib = load_module(self.config.module_path)
        self._token = self.call(lambda: self._find_token(lib))
        self._login_session = self._open(self._token, with_pin=True)
        log.info("logged in to PKCS#11 token %r", self.config.token_label)

    def _find_token(self, lib: Pkcs11Library) -> pkcs11.Token:
        label = self.config.token_label
        try:
            return lib.get_token(token_label=label)
        except p11.NoSuchToken:
            present = sorted(token.label for token in lib.get_tokens())
            raise BackendError(
                f"PKCS#11 token {label!r} not found in module {self.config.module_path}; "
                f"tokens present: {', '.join(map(repr, present)) or 'none'}"
            ) from None
        except p11.MultipleTokensReturned:
            raise BackendError(
                f"more than one PKCS#11 token is labelled {label!r} in module "
                f"{self.config.module_path}; give each token a unique label"
            ) from None

    def _open(self, token: pkcs11.Token, with_pin: bool) -> pkcs11.Session:
        # NOTE: python-pkcs11 0.10 opens the session before C_Login and does not close it
        # when the login fails, so a rejected PIN or an existing login leaks one session
        # handle until the module is finalised.
        pin = self.config.pin.reveal() if with_pin else None
        try:
            return self.call(lambda: token.open(rw=True, user_pin=pin))
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange) as exc:
            raise AccessDeniedError(
                f"PKCS#11 token {self.config.token_label!r} rejected the user PIN "
                f"({type(exc).__name__}); check FIRMSEAL_PKCS11_PIN or {PIN_FILE_VARIABLE}"
            ) from None
        except (p11.PinLocked, p11.PinExpired) as exc:
            raise BackendError(
                f"the user PIN of PKCS#11 token {self.config.token_label!r} is "
                f"{'locked' if isinstance(exc, p11.PinLocked) else 'expired'}; the token's "
                "security officer must reset it"
            ) from None
        except p11.UserAlreadyLoggedIn:
            # Sessions from before a reset, still in use by other threads, or other code in
            # this process keep the token logged in.
            log.warning(
                "PKCS#11 token %r is still logged in through sessions opened before; "
                "using that login",
                self.config.token_label,
            )
            return self.call(lambda: token.open(rw=True))
        except LOST_SESSION_ERRORS as exc:
            raise BackendError(
                f"cannot open a session on PKCS#11 token {self.config.token_label!r}: "
                f"{error_name(exc)}; check that the token is present"
            ) from exc
