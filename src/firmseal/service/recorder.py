"""Group commit of job rows: concurrent writers share one transaction and one fsync.

The first thread to arrive commits everything pending, as leader; threads that arrive
meanwhile wait, and one of them leads the next batch. No row is acknowledged before its
transaction committed, so durability is as for a row committed alone.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from firmseal.store.db import transaction
from firmseal.store.models import JobRecord

log = logging.getLogger(__name__)

MAX_BATCH = 64


_COLUMNS = [column.key for column in JobRecord.__table__.columns]


def _row(job: JobRecord) -> dict[str, object]:
    return {name: getattr(job, name) for name in _COLUMNS}


@dataclass
class _Entry:
    job: JobRecord
    done: bool = False
    error: BaseException | None = None


class JobRecorder:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._condition = threading.Condition()
        self._pending: list[_Entry] = []
        self._leading = False

    def record(self, job: JobRecord) -> None:
        """Insert the job row; return once it is committed, or raise the error that stopped it."""
        entry = _Entry(job)
        with self._condition:
            self._pending.append(entry)
            while not entry.done:
                if self._leading:
                    self._condition.wait()
                    continue
                self._leading = True
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                self._condition.release()
                try:
                    self._commit(batch)
                finally:
                    self._condition.acquire()
                    self._leading = False
                    self._condition.notify_all()
        if entry.error is not None:
            raise entry.error

    def _commit(self, batch: list[_Entry]) -> None:
        """Commit the batch; if it fails, commit each row alone so one bad row fails alone."""
        try:
            with transaction(self._sessions) as session:
                # A Core INSERT of plain rows skips the ORM's unit of work, which costs more
                # than the insert itself for rows nothing reads back in this session.
                session.execute(insert(JobRecord), [_row(entry.job) for entry in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done = True
                return
            log.warning(
                "group commit of %d job rows failed (%s); committing them one by one",
                len(batch),
                exc,
            )
            for entry in batch:
                self._commit([entry])
            return
        for entry in batch:
            entry.done = True
