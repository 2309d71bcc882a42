"""`firmseal backend ...`: the key backends and whether they are reachable."""

from __future__ import annotations

import click

from firmseal.cli.context import AppContext, pass_app
from firmseal.cli.output import emit_table, json_option
from firmseal.errors import BackendError


@click.group("backend")
def backend_group() -> None:
    """Inspect the key backends (local, pkcs11, aws-kms)."""


@backend_group.command("check")
@json_option
@pass_app
def check(app: AppContext, as_json: bool) -> None:
    """Contact each configured key backend and report whether it is reachable.

    Backends that the environment does not configure are listed but not contacted. Exits 5
    when a configured backend is unreachable.
    """
    statuses = app.workspace.backends.check()
    rows = [
        {
            "backend": status.backend,
            "configured": status.configured,
            "reachable": status.reachable,
            "detail": status.detail,
        }
        for status in statuses
    ]
    emit_table(rows, ["backend", "configured", "reachable", "detail"], as_json, "backends")
    failed = [status.backend for status in statuses if status.configured and not status.reachable]
    if failed:
        raise BackendError(f"key backends unreachable: {', '.join(failed)}")
