"""Entry point: the command group, logging set-up, and the one place errors become exit codes."""

from __future__ import annotations

import logging
import os

import click

from firmseal import __version__
from firmseal.cli.certs import ca_group, cert_group
from firmseal.cli.context import AppContext
from firmseal.cli.jobs import job_group, sign_command
from firmseal.cli.keys import key_group
from firmseal.cli.objects import object_group
from firmseal.cli.output import emit, json_option
from firmseal.cli.principals import principal_group
from firmseal.cli.profiles import platform_group, profile_group
from firmseal.cli.server import serve_command, worker_command
from firmseal.cli.verify import verify_command
from firmseal.device.errors import VerificationError
from firmseal.errors import (
    AccessDeniedError,
    BackendError,
    ConflictError,
    FirmsealError,
    InvalidInputError,
    NotFoundError,
)
from firmseal.service.workspace import init_workspace

# Exit codes: 1 verification failed, 2 invalid input or usage, 3 not found, 4 conflict,
# 5 key store, database or object store failure, 6 access denied.
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (VerificationError, 1),
    (InvalidInputError, 2),
    (NotFoundError, 3),
    (ConflictError, 4),
    (BackendError, 5),
    (AccessDeniedError, 6),
    (FirmsealError, 2),
]


class FirmsealGroup(click.Group):
    """A command group that turns firmseal's errors into one `error:` line and an exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (FirmsealError, VerificationError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exit_code_for(exc))


@click.group(cls=FirmsealGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="firmseal")
@click.option("-v", "--verbose", count=True, help="Log to stderr: -v for info, -vv for debug.")
@click.option(
    "--database-url",
    help="Database URL, e.g. postgresql://USER@HOST:PORT/DB (default: FIRMSEAL_DATABASE_URL, "
    "else SQLite in the workspace).",
)
@click.pass_context
def cli(context: click.Context, verbose: int, database_url: str | None) -> None:
    """Sign firmware under signing profiles with keys that never leave the key store."""
    if database_url:
        os.environ["FIRMSEAL_DATABASE_URL"] = database_url
    level = {0: logging.ERROR, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    app = context.ensure_object(AppContext)
    context.call_on_close(app.close)


@cli.command("init")
@json_option
@click.pass_obj
def init_command(app: AppContext, as_json: bool) -> None:
    """Create the workspace, or migrate its database to the current schema."""
    report = init_workspace(app.settings)
    document = {
        "home": str(report.home),
        "databaseUrl": report.database_url,
        "createdMasterKey": report.created_master_key,
        "fromRevision": report.from_revision,
        "toRevision": report.to_revision,
        "changed": report.changed,
    }
    if as_json:
        emit(document, as_json=True)
    elif not report.changed:
        click.echo(f"workspace {report.home} is already initialised; nothing changed")
    elif report.from_revision is None:
        click.echo(f"initialised workspace {report.home} (schema {report.to_revision})")
    else:
        click.echo(
            f"migrated workspace {report.home} from schema {report.from_revision} "
            f"to {report.to_revision}"
        )


for command in (
    key_group,
    ca_group,
    cert_group,
    platform_group,
    profile_group,
    sign_command,
    job_group,
    verify_command,
    principal_group,
    object_group,
    serve_command,
    worker_command,
):
    cli.add_command(command)


def exit_code_for(error: BaseException) -> int:
    for error_type, code in EXIT_CODES:
        if isinstance(error, error_type):
            return code
    return 70


def main() -> None:
    """Run the CLI as the `firmseal` console script."""
    cli(prog_name="firmseal")
