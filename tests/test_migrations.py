"""Alembic migrations produce exactly the schema the models declare."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from api_server import postgres_database
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


def _unique_constraints(engine: Engine) -> dict[str | None, list[str]]:
    return {
        constraint["name"]: constraint["column_names"]
        for constraint in inspect(engine).get_unique_constraints("signing_jobs")
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_token_unique_per_principal(tmp_path: Path, backend: str) -> None:
    """0004 makes clientRequestToken unique per requesting principal, and back on downgrade."""
    from alembic import command

    with contextlib.ExitStack() as stack:
        if backend == "postgresql":
            url = stack.enter_context(postgres_database())
        else:
            url = f"sqlite:///{tmp_path / 'm.db'}"
        engine = db.make_engine(url)
        stack.callback(engine.dispose)
        db.migrate(engine, "0003")
        assert _unique_constraints(engine) == {
            "uq_signing_jobs_client_request_token": ["client_request_token"]
        }
        db.migrate(engine)
        assert db.current_revision(engine) == "0004"
        assert _unique_constraints(engine) == {
            "uq_signing_jobs_requester_token": ["requested_by", "client_request_token"]
        }
        command.downgrade(db._alembic_config(engine), "0003")
        assert _unique_constraints(engine) == {
            "uq_signing_jobs_client_request_token": ["client_request_token"]
        }
