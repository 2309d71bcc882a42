"""`firmseal sign` and `firmseal job ...`."""

from __future__ import annotations

from pathlib import Path

import click

from firmseal.cli.context import AppContext, pass_app
from firmseal.cli.output import emit, emit_table, json_option
from firmseal.cli.profiles import param_option
from firmseal.cli.progress import progress_bar
from firmseal.cli.records import job_dict
from firmseal.service.jobs import JobService, SignRequest, local_principal
from firmseal.service.profiles import parse_params


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@click.command("sign")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--profile", "profile_name", required=True, help="Signing profile name.")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Folder for the signed artifacts (default: the current folder).",
)
@param_option
@json_option
@pass_app
def sign_command(
    app: AppContext,
    file: Path,
    profile_name: str,
    out_dir: Path,
    params: tuple[str, ...],
    as_json: bool,
) -> None:
    """Sign FILE (raw binary or Intel HEX) under a signing profile and record the job."""
    request = SignRequest(
        profile_name=profile_name,
        source=file,
        out_dir=out_dir,
        overrides=parse_params(params),
        requested_by=local_principal(),
    )
    with progress_bar(f"signing {file.name}", _size(file), as_json) as advance:
        job = JobService(app.workspace).sign_file(request, advance)
    document = job_dict(job)
    if as_json:
        emit(document, as_json=True)
        return
    click.echo(f"signed {file} under {profile_name} (version {job.profile_version})")
    click.echo(f"job       {job.job_id}")
    hash_name = "sha384" if len(job.image_digest or "") == 96 else "sha256"
    click.echo(f"digest    {hash_name}:{job.image_digest}")
    for artifact in document["signedObjects"]:
        click.echo(f"wrote     {artifact}")
    expires = job.signature_expires_at.isoformat() if job.signature_expires_at else "never"
    click.echo(f"expires   {expires}")


@click.group("job")
def job_group() -> None:
    """Signing jobs."""


@job_group.command("list")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@json_option
@pass_app
def job_list(app: AppContext, limit: int, as_json: bool) -> None:
    """List signing jobs, newest first."""
    rows = [job_dict(job) for job in JobService(app.workspace).list_all(limit)]
    columns = ["jobId", "status", "profileName", "profileVersion", "createdAt"]
    emit_table(rows, columns, as_json, "jobs")


@job_group.command("show")
@click.argument("job_id")
@json_option
@pass_app
def job_show(app: AppContext, job_id: str, as_json: bool) -> None:
    """Show one signing job."""
    emit(job_dict(JobService(app.workspace).get(job_id)), as_json)


@job_group.command("cleanup")
@json_option
@pass_app
def job_cleanup(app: AppContext, as_json: bool) -> None:
    """Fail jobs whose `firmseal sign` process died (SIGKILL, power cut) and delete leftovers.

    `firmseal sign` also does this before it starts.
    """
    cleaned = JobService(app.workspace).cleanup_abandoned()
    if as_json:
        emit({"cleanedJobIds": cleaned}, as_json=True)
        return
    for job_id in cleaned:
        click.echo(f"failed abandoned job {job_id} and removed its temporary files")
    if not cleaned:
        click.echo("no abandoned jobs")
