"""Printing results: one JSON document with --json, a table or key-value lines otherwise."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout and nothing else."
)


def _default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def emit_json(document: object) -> None:
    click.echo(json.dumps(document, indent=2, default=_default))


def emit(document: Mapping[str, Any], as_json: bool) -> None:
    """Print one object as JSON, or as aligned `field: value` lines."""
    if as_json:
        emit_json(document)
        return
    width = max((len(key) for key in document), default=0)
    for key, value in document.items():
        text = value
        if isinstance(value, dt.datetime):
            text = _default(value)
        elif isinstance(value, (dict, list)):
            text = json.dumps(value, default=_default)
        click.echo(f"{key.ljust(width)}  {'' if text is None else text}")


def emit_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Iterable[str],
    as_json: bool,
    key: str,
) -> None:
    """Print a list as `{key: [...]}` JSON, or as a table with the given columns."""
    if as_json:
        emit_json({key: list(rows)})
        return
    # rich takes about 40 ms to import, so only commands that print a table load it.
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, box=None, pad_edge=False)
    columns = list(columns)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    # Off a terminal, print whole cells: ids and ARNs in a pipe must not be cut short.
    width = None if sys.stdout.isatty() else 100_000
    Console(file=sys.stdout, soft_wrap=True, width=width).print(table)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return str(_default(value))
    return str(value)
