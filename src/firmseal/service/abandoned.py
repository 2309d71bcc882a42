"""Find signing jobs whose `firmseal sign` process died, and clean up after them.

SIGTERM and Ctrl-C let a job fail cleanly, but SIGKILL or a power cut leave the job
InProgress, its staging folder in the output folder and a partial object-store file. While
a job runs, a marker file in `$FIRMSEAL_HOME/tmp/running/` names its process and those
paths. A marker whose process no longer exists on this host belongs to an abandoned job.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningJob:
    """The process and paths of a running `firmseal sign`, kept in case it dies."""

    job_id: str
    pid: int
    host: str
    staging: str
    pending: str
    tmp_prefix: str


def running_dir(tmp_dir: Path) -> Path:
    return tmp_dir / "running"


@contextmanager
def marked_running(tmp_dir: Path, job: RunningJob) -> Iterator[None]:
    """Keep a marker for `job` while the block runs; remove it however the block ends."""
    folder = running_dir(tmp_dir)
    folder.mkdir(mode=0o700, exist_ok=True)
    marker = folder / f"{job.job_id}.json"
    marker.write_text(json.dumps(asdict(job)))
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_abandoned(tmp_dir: Path) -> list[tuple[Path, RunningJob]]:
    """Return the markers of jobs started on this host whose process has ended."""
    folder = running_dir(tmp_dir)
    if not folder.is_dir():
        return []
    found = []
    host = socket.gethostname()
    for marker in sorted(folder.glob("*.json")):
        try:
            job = RunningJob(**json.loads(marker.read_text()))
        except (OSError, ValueError, TypeError):
            log.warning("ignoring unreadable job marker %s", marker)
            continue
        if job.host == host and not _process_exists(job.pid):
            found.append((marker, job))
    return found


def remove_leftovers(tmp_dir: Path, job: RunningJob) -> None:
    """Delete the staging folder, the partial object and the temporary files of `job`."""
    shutil.rmtree(job.staging, ignore_errors=True)
    Path(job.pending).unlink(missing_ok=True)
    for leftover in tmp_dir.glob(f"{job.tmp_prefix}*"):
        shutil.rmtree(leftover, ignore_errors=True)
