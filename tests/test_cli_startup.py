"""Start-up: each command imports only what it uses, checked by module, not by timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from conftest import Cli, Signed
from firmseal.cli.main import LAZY_COMMANDS, cli

# Run a command line in a fresh interpreter and print the top-level packages it imported.
PROBE = """
import json, sys
from firmseal.cli.main import cli
try:
    cli.main(sys.argv[1:], prog_name="firmseal", standalone_mode=False)
finally:
    print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""


def _imported_packages(*args: str, home: Path | None = None) -> set[str]:
    env = dict(os.environ)
    if home is not None:
        env["FIRMSEAL_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def test_lazy_commands_resolve_to_named_commands() -> None:
    context = click.Context(cli)
    for name in LAZY_COMMANDS:
        command = cli.get_command(context, name)
        assert isinstance(command, click.Command), name
        assert command.name == name
    assert set(LAZY_COMMANDS) <= set(cli.list_commands(context))


def test_version_imports_no_heavy_packages() -> None:
    imported = _imported_packages("--version")
    assert "sqlalchemy" not in imported
    assert "alembic" not in imported
    assert "rich" not in imported


def test_verify_with_public_key_skips_database(signed: Signed) -> None:
    imported = _imported_packages(
        "verify",
        str(signed.image),
        "--signature",
        str(signed.sig),
        "--public-key",
        str(signed.public_key),
    )
    assert "cryptography" in imported
    assert "sqlalchemy" not in imported
    assert "alembic" not in imported
    assert "rich" not in imported


def test_workspace_open_skips_alembic(fs: Cli) -> None:
    imported = _imported_packages("key", "list", "--json", home=fs.home)
    assert "sqlalchemy" in imported
    assert "alembic" not in imported
