"""`firmseal serve` (the AWS Signer API over HTTP) and `firmseal worker` (signing workers)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
from types import FrameType

import click

from firmseal.cli.context import AppContext
from firmseal.objects.store import open_object_store
from firmseal.service.worker import SigningWorker

log = logging.getLogger(__name__)


def _set_env(name: str, value: object | None) -> None:
    if value is not None:
        os.environ[name] = str(value)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8443, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="HTTP worker processes.",
)
@click.option(
    "--signing-workers",
    type=click.IntRange(0, 64),
    default=1,
    show_default=True,
    help="Signing worker threads in each HTTP worker process; 0 leaves jobs to `firmseal worker`.",
)
@click.option("--region", help="Region in ARNs and SigV4 scopes (default: FIRMSEAL_REGION).")
@click.option("--account-id", help="12-digit account id in ARNs (default: FIRMSEAL_ACCOUNT_ID).")
@click.option("--database-url", help="Database URL (default: FIRMSEAL_DATABASE_URL or SQLite).")
@click.option(
    "--rate-limit",
    type=click.FloatRange(0),
    help="Requests per second per access key in each process; 0 for no limit (default 0).",
)
def serve_command(
    host: str,
    port: int,
    workers: int,
    signing_workers: int,
    region: str | None,
    account_id: str | None,
    database_url: str | None,
    rate_limit: float | None,
) -> None:
    """Serve the AWS Signer API (REST-JSON 2017-08-25) and the native endpoints."""
    import uvicorn

    _set_env("FIRMSEAL_REGION", region)
    _set_env("FIRMSEAL_ACCOUNT_ID", account_id)
    _set_env("FIRMSEAL_DATABASE_URL", database_url)
    _set_env("FIRMSEAL_SIGNING_WORKERS", signing_workers)
    _set_env("FIRMSEAL_RATE_LIMIT", rate_limit)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    # uvicorn shuts down gracefully on SIGTERM and then raises the signal again; exit 0 then,
    # instead of the CLI's usual "interrupted" handling.
    signal.signal(signal.SIGTERM, _exit_after_shutdown)
    uvicorn.run(
        "firmseal.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=30,
    )


def _exit_after_shutdown(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


@click.command("worker")
@click.option(
    "--lease-seconds",
    type=click.FloatRange(1),
    default=60,
    show_default=True,
    help="How long a claimed job stays with this worker without a renewal.",
)
@click.option(
    "--poll-seconds",
    type=click.FloatRange(0.01),
    default=0.5,
    show_default=True,
    help="Pause between queue polls when the queue is empty.",
)
@click.option("--database-url", help="Database URL (default: FIRMSEAL_DATABASE_URL or SQLite).")
@click.option("--once", is_flag=True, help="Run at most one queued job, then exit.")
@click.pass_context
def worker_command(
    context: click.Context,
    lease_seconds: float,
    poll_seconds: float,
    database_url: str | None,
    once: bool,
) -> None:
    """Take queued signing jobs from the database and sign them, until SIGTERM or SIGINT."""
    _set_env("FIRMSEAL_DATABASE_URL", database_url)
    app = context.ensure_object(AppContext)
    _run_worker(app, dt.timedelta(seconds=lease_seconds), poll_seconds, once)


def _run_worker(app: AppContext, lease: dt.timedelta, poll_seconds: float, once: bool) -> None:
    workspace = app.workspace
    worker = SigningWorker(
        workspace, open_object_store(app.settings.objects_dir), lease, poll_seconds
    )
    if once:
        worker.run_once()
        return

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current job", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"signing worker {worker.worker_id} started", err=True)
    worker.run_forever()
