"""Database engine, sessions and schema migrations."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from sqlalchemy import Engine, column, create_engine, event, inspect, select, table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from firmseal.errors import BackendError

log = logging.getLogger(__name__)

# The newest revision in migrations/versions. Every command that opens the workspace checks
# the database against it. A constant spares that check the import of Alembic, about 0.1 s,
# and tests/test_migrations.py checks that it equals Alembic's own head.
SCHEMA_HEAD = "0004"
# Alembic's default version table: one row whose version_num is the applied revision.
_ALEMBIC_VERSION = table("alembic_version", column("version_num"))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def normalise_url(url: str) -> str:
    """Map the usual `postgresql://` form to SQLAlchemy's psycopg 3 driver name."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    engine = create_engine(normalise_url(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("firmseal.store") / "migrations")
    )
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    """Return the revision recorded in Alembic's version table, or None before any migration.

    Reads the table with SQLAlchemy alone, as Alembic's MigrationContext does, because
    importing Alembic would add about 0.1 s to the start-up of every command.
    """
    with engine.connect() as connection:
        if not inspect(connection).has_table(_ALEMBIC_VERSION.name):
            return None
        revisions = list(connection.scalars(select(_ALEMBIC_VERSION.c.version_num)))
    if len(revisions) > 1:
        raise BackendError(
            f"database on {engine.url!r} records several schema revisions {revisions}; "
            "firmseal's migrations have a single head, so repair the alembic_version table"
        )
    return revisions[0] if revisions else None


def head_revision(engine: Engine) -> str:
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    if head is None:
        raise BackendError("no database migrations found in the firmseal package")
    return head


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision` in one transaction per migration."""
    from alembic import command

    try:
        command.upgrade(_alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise BackendError(f"database migration failed on {engine.url!r}: {exc}") from exc


def has_tables(engine: Engine) -> bool:
    return bool(inspect(engine).get_table_names())


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session and commit on success; roll back everything on any exception."""
    with factory() as session, session.begin():
        yield session
