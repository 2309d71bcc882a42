"""Alembic migrations produce exactly the schema the models declare."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from firmseal.errors import BackendError
from firmseal.store import db
from firmseal.store.models import Base


def test_migrations_match_models(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    from alembic import command

    engine = db.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate(engine)
    command.downgrade(db._alembic_config(engine), "base")
    assert db.current_revision(engine) is None
    db.migrate(engine)
    assert db.current_revision(engine) == db.head_revision(engine)
    engine.dispose()


def test_schema_head_constant_matches_alembic(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert db.head_revision(engine) == db.SCHEMA_HEAD
    engine.dispose()


def test_current_revision_reads_version_table(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert db.current_revision(engine) is None
    db.migrate(engine, "0001")
    assert db.current_revision(engine) == "0001"
    with engine.connect() as connection:
        alembic_revision = MigrationContext.configure(connection).get_current_revision()
    assert alembic_revision == "0001"
    db.migrate(engine)
    assert db.current_revision(engine) == db.SCHEMA_HEAD
    engine.dispose()


def test_current_revision_rejects_several_rows(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate(engine)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0001')"))
    with pytest.raises(BackendError, match="several schema revisions"):
        db.current_revision(engine)
    engine.dispose()
