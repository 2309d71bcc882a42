"""`firmseal object ...`: the versioned object store that StartSigningJob reads and writes."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click

from firmseal.cli.context import AppContext, pass_app
from firmseal.cli.output import emit, emit_table, json_option
from firmseal.errors import InvalidInputError
from firmseal.objects.store import ObjectStore, open_object_store


def _store(app: AppContext) -> ObjectStore:
    return open_object_store(app.settings.objects_dir)


@click.group("object")
def object_group() -> None:
    """Objects in buckets, with versions, as S3 keeps them."""


@object_group.command("put")
@click.argument("bucket")
@click.argument("key")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_app
def object_put(app: AppContext, bucket: str, key: str, file: Path, as_json: bool) -> None:
    """Store FILE as a new version of BUCKET/KEY and print the version id."""
    try:
        stream = file.open("rb")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {file}: {exc.strerror}") from None
    with stream:
        stored = _store(app).put_stream(bucket, key, stream)
    if as_json:
        emit(
            {"bucket": bucket, "key": key, "versionId": stored.version_id, "size": stored.size},
            as_json=True,
        )
    else:
        click.echo(stored.version_id)


@object_group.command("get")
@click.argument("bucket")
@click.argument("key")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--version-id", help="Version to read (default: the newest).")
@pass_app
def object_get(app: AppContext, bucket: str, key: str, file: Path, version_id: str | None) -> None:
    """Write one version of BUCKET/KEY to FILE."""
    with tempfile.TemporaryDirectory(dir=app.settings.tmp_dir) as tmp:
        source = _store(app).fetch(bucket, key, version_id, Path(tmp))
        try:
            shutil.copyfile(source, file)
        except OSError as exc:
            raise InvalidInputError(f"cannot write {file}: {exc.strerror}") from None


@object_group.command("list")
@click.argument("bucket")
@click.option("--prefix", default="", help="Only keys that start with this prefix.")
@json_option
@pass_app
def object_list(app: AppContext, bucket: str, prefix: str, as_json: bool) -> None:
    """List the newest version of every key in BUCKET."""
    rows = [
        {"key": o.key, "versionId": o.version_id, "size": o.size}
        for o in _store(app).list_objects(bucket, prefix)
    ]
    emit_table(rows, ["key", "versionId", "size"], as_json, "objects")
