"""Entry point: the command group, logging set-up, and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
from typing import Any

import click

from firmseal import __version__
from firmseal.cli.context import AppContext
from firmseal.cli.output import emit, json_option
from firmseal.config import redact_url
from firmseal.device.errors import VerificationError
from firmseal.errors import (
    AccessDeniedError,
    BackendError,
    ConflictError,
    FirmsealError,
    InvalidInputError,
    NotFoundError,
)
from firmseal.logsafe import OneLineFormatter

# Exit codes: 1 verification failed, 2 invalid input or usage, 3 not found, 4 conflict,
# 5 key store, database or object store failure, 6 access denied, 70 unexpected error,
# 130 interrupted.
EXIT_BACKEND = 5
EXIT_INTERNAL = 70
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (VerificationError, 1),
    (InvalidInputError, 2),
    (NotFoundError, 3),
    (ConflictError, 4),
    (BackendError, 5),
    (AccessDeniedError, 6),
    (FirmsealError, 2),
]


# Subcommands as "module:attribute", imported only when a command line names them, so that
# `firmseal verify` does not pay for importing SQLAlchemy and `firmseal --version` pays for
# almost nothing.
LAZY_COMMANDS: dict[str, str] = {
    "key": "firmseal.cli.keys:key_group",
    "backend": "firmseal.cli.backends:backend_group",
    "ca": "firmseal.cli.certs:ca_group",
    "cert": "firmseal.cli.certs:cert_group",
    "platform": "firmseal.cli.profiles:platform_group",
    "profile": "firmseal.cli.profiles:profile_group",
    "sign": "firmseal.cli.jobs:sign_command",
    "job": "firmseal.cli.jobs:job_group",
    "verify": "firmseal.cli.verify:verify_command",
    "mcuboot": "firmseal.cli.mcuboot:mcuboot_group",
    "principal": "firmseal.cli.principals:principal_group",
    "object": "firmseal.cli.objects:object_group",
    "serve": "firmseal.cli.server:serve_command",
    "worker": "firmseal.cli.server:worker_command",
}

log = logging.getLogger(__name__)


class FirmsealGroup(click.Group):
    """The top-level group: loads subcommands on demand and maps errors to exit codes.

    Every firmseal error becomes one `error:` line on stderr and the exit code from
    EXIT_CODES.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is a {type(command).__name__}, not a click command")
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (FirmsealError, VerificationError) as exc:
            # A message may repeat a key name given on the command line, which could be a
            # pkcs11: URI with a PIN in it. Imported here to keep `--version` light.
            from firmseal.kms.pkcs11_uri import redact_pin_values

            click.echo(f"error: {redact_pin_values(str(exc))}", err=True)
            ctx.exit(exit_code_for(exc))
        except OSError as exc:
            # A file system failure the services did not anticipate (a full disk, a name too
            # long, a permission the check could not see): one line, with the path.
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"error: {exc.strerror or exc}{where}", err=True)
            ctx.exit(EXIT_BACKEND)
        except Exception as exc:
            if _is_database_error(exc):
                click.echo(f"error: database failure: {_first_line(exc)}", err=True)
                ctx.exit(EXIT_BACKEND)
            log.debug("unexpected error", exc_info=True)
            click.echo(
                f"error: unexpected {type(exc).__name__}: {_first_line(exc)} "
                "(run with -vv for the traceback and report it)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)
        return None

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the group, printing usage errors as one `error:` line like every other error."""
        kwargs["standalone_mode"] = False
        previous = signal.signal(signal.SIGTERM, _terminate)
        # A reader that closes the pipe (`firmseal job list | head -1`) ends the process by
        # SIGPIPE, as it ends other Unix tools, instead of an EPIPE error line.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            context = getattr(exc, "ctx", None)
            command = context.command_path if context is not None else "firmseal"
            hint = f" (see `{command} --help`)" if isinstance(exc, click.UsageError) else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        finally:
            signal.signal(signal.SIGTERM, previous)
        sys.exit(code if isinstance(code, int) else 0)


def _terminate(signum: int, _frame: object) -> None:
    """Turn SIGTERM into an exception, so jobs are marked Failed and temporary files go."""
    raise KeyboardInterrupt(f"interrupted by {signal.Signals(signum).name}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _is_database_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith("sqlalchemy") or module.startswith("alembic")


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
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # Alembic logs its plugin set-up on every run at debug level; only its warnings matter.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    app = context.ensure_object(AppContext)
    context.call_on_close(app.close)


@cli.command("init")
@json_option
@click.pass_obj
def init_command(app: AppContext, as_json: bool) -> None:
    """Create the workspace, or migrate its database to the current schema."""
    from firmseal.service.workspace import init_workspace

    report = init_workspace(app.settings)
    document = {
        "home": str(report.home),
        "databaseUrl": redact_url(report.database_url),
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


def exit_code_for(error: BaseException) -> int:
    for error_type, code in EXIT_CODES:
        if isinstance(error, error_type):
            return code
    return EXIT_INTERNAL


def main() -> None:
    """Run the CLI as the `firmseal` console script."""
    cli(prog_name="firmseal")
