"""The workspace: database, key store and object store under `$FIRMSEAL_HOME`."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from firmseal.config import Settings
from firmseal.errors import BackendError, KeyStoreError, NotFoundError
from firmseal.fsutil import write_new_secret
from firmseal.kms.base import KeyBackend
from firmseal.kms.local import CHECK_FILE, LocalKeyStore, new_master_key_text, parse_master_key
from firmseal.kms.registry import BackendRegistry
from firmseal.objects.local import LocalObjectStore
from firmseal.store import db

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class InitReport:
    """The changes `init` made: none when the workspace was already current."""

    home: Path
    database_url: str
    created_home: bool = False
    created_master_key: bool = False
    from_revision: str | None = None
    to_revision: str = ""

    @property
    def changed(self) -> bool:
        return (
            self.created_home or self.created_master_key or self.from_revision != self.to_revision
        )


def _make_dirs(settings: Settings) -> bool:
    created = not settings.home.exists()
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in (settings.keys_dir, settings.tmp_dir):
        folder.mkdir(exist_ok=True, mode=0o700)
    settings.objects_dir.mkdir(exist_ok=True, mode=0o700)
    return created


def init_workspace(settings: Settings) -> InitReport:
    """Create the workspace or migrate its database to the newest schema; idempotent."""
    report = InitReport(home=settings.home, database_url=settings.database_url)
    report.created_home = _make_dirs(settings)
    with _init_lock(settings.home):
        report.created_master_key = _ensure_master_key(settings)
        LocalKeyStore(settings.keys_dir, load_master_key(settings)).check_master_key()
        engine = db.make_engine(settings.database_url)
        try:
            report.from_revision = db.current_revision(engine)
            db.migrate(engine)
            report.to_revision = db.head_revision(engine)
        finally:
            engine.dispose()
        _restrict_sqlite_file(settings.database_url)
    return report


def _ensure_master_key(settings: Settings) -> bool:
    """Create master.key for a new key store; never replace one that keys depend on."""
    if settings.master_key_env is not None or settings.master_key_path.exists():
        return False
    keys_dir = settings.keys_dir
    if any(keys_dir.glob("*.key.json")) or (keys_dir / CHECK_FILE).exists():
        raise KeyStoreError(
            f"master key {settings.master_key_path} is missing but {keys_dir} contains keys "
            "encrypted under it; restore master.key from a backup or set FIRMSEAL_MASTER_KEY. "
            "A new master key could not decrypt those keys"
        )
    write_new_secret(settings.master_key_path, new_master_key_text())
    log.info("created master key %s", settings.master_key_path)
    return True


@contextlib.contextmanager
def _init_lock(home: Path) -> Iterator[None]:
    """Serialise concurrent `init` runs on one workspace with an advisory file lock."""
    with (home / ".init.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _restrict_sqlite_file(database_url: str) -> None:
    path = Path(database_url.removeprefix("sqlite:///"))
    if database_url.startswith("sqlite:///") and path.exists():
        path.chmod(0o600)


def load_master_key(settings: Settings) -> bytes:
    if settings.master_key_env is not None:
        return parse_master_key(settings.master_key_env, "FIRMSEAL_MASTER_KEY")
    try:
        ensure_private(settings.master_key_path)
        text = settings.master_key_path.read_text()
    except FileNotFoundError:
        raise KeyStoreError(
            f"master key {settings.master_key_path} not found; run `firmseal init` or set "
            "FIRMSEAL_MASTER_KEY"
        ) from None
    return parse_master_key(text, str(settings.master_key_path))


@dataclass
class Workspace:
    """Open handles on one workspace, shared by the services."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    objects: LocalObjectStore
    clock: Clock = utc_now
    backends: BackendRegistry = field(init=False)

    def __post_init__(self) -> None:
        self.backends = BackendRegistry(self._open_local_store)

    @classmethod
    def open(cls, settings: Settings, clock: Clock = utc_now) -> Workspace:
        """Open an initialised workspace; raise if `init` has not run or the schema is old."""
        sqlite_file = settings.database_url.removeprefix("sqlite:///")
        if sqlite_file != settings.database_url and not Path(sqlite_file).exists():
            raise NotFoundError(
                f"no firmseal workspace at {settings.home}; run `firmseal init` first"
            )
        engine = db.make_engine(settings.database_url)
        revision = db.current_revision(engine)
        if revision != db.SCHEMA_HEAD:
            engine.dispose()
            raise BackendError(
                f"database schema is at revision {revision or 'none'}, expected "
                f"{db.SCHEMA_HEAD}; run `firmseal init` to migrate it"
            )
        workspace = cls(
            settings=settings,
            engine=engine,
            sessions=sessionmaker(engine, expire_on_commit=False),
            objects=LocalObjectStore(settings.objects_dir),
            clock=clock,
        )
        return workspace

    def backend(self, name: str) -> KeyBackend:
        """Return the key backend called `name`, opening it on first use.

        Opening the local store loads and checks the master key, so commands that never
        touch a private key (listing keys, exporting public keys) work without it. The
        pkcs11 and aws-kms backends are built from the environment when first named.
        """
        return self.backends.backend(name)

    def _open_local_store(self) -> LocalKeyStore:
        store = LocalKeyStore(self.settings.keys_dir, load_master_key(self.settings))
        store.check_master_key()
        return store

    def new_tmp_dir(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.settings.tmp_dir))

    def close(self) -> None:
        self.engine.dispose()


def ensure_private(path: Path) -> None:
    """Raise when a file that contains secrets is readable by others."""
    mode = os.stat(path).st_mode & 0o777
    if mode & 0o077:
        raise KeyStoreError(f"{path} has mode {mode:o}; run `chmod 600 {path}`")
