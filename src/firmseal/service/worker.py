"""The signing worker: claims queued jobs, streams the source object, signs, stores the result."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import socket
import threading
import uuid
from pathlib import Path

from firmseal.errors import ConflictError, FirmsealError, InvalidInputError
from firmseal.formats import FORMATS
from firmseal.formats.base import ImageInput, SignContext, SignResult
from firmseal.formats.platforms import SigningPlatform, get_platform
from firmseal.kms.base import Signer
from firmseal.objects.store import ObjectStore
from firmseal.service.keys import KeyService
from firmseal.service.profiles import ACTIVE, ProfileService, Validity
from firmseal.service.queue import Outcome, SigningQueue
from firmseal.service.workspace import Workspace
from firmseal.store.models import JobRecord

log = logging.getLogger(__name__)

DEFAULT_LEASE = dt.timedelta(seconds=60)
# The artifact that becomes the job's signed object, by format; other formats publish their
# first artifact.
SIGNED_OBJECT_SUFFIX = {"freertos-ota": ".signed.json", "detached": ".sig"}


def new_worker_id() -> str:
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def signed_object_key(prefix: str, job_id: str, image_name: str, artifact: Path) -> str:
    """Return prefix + job id + the artifact's extension.

    The extension is what the format added to the image name (`fw.bin.sig` gives `.sig`) or
    to its stem (`fw.signed.bin` gives `.signed.bin`), else the artifact's own suffixes.
    """
    stem = Path(image_name).stem
    if artifact.name.startswith(image_name):
        suffix = artifact.name.removeprefix(image_name)
    elif stem and artifact.name.startswith(f"{stem}."):
        suffix = artifact.name.removeprefix(stem)
    else:
        suffix = "".join(artifact.suffixes)
    return f"{prefix}{job_id}{suffix}"


def _pick_artifact(format_name: str, files: list[Path]) -> Path:
    wanted = SIGNED_OBJECT_SUFFIX.get(format_name)
    for path in files:
        if wanted is None or path.name.endswith(wanted):
            return path
    raise FirmsealError(f"format {format_name} wrote no {wanted} artifact")


class SigningWorker:
    """Runs queued jobs one at a time; `run_forever` until `stop` is called."""

    def __init__(
        self,
        workspace: Workspace,
        objects: ObjectStore,
        lease: dt.timedelta = DEFAULT_LEASE,
        poll_seconds: float = 0.5,
    ) -> None:
        self.worker_id = new_worker_id()
        self._ws = workspace
        self._objects = objects
        self._queue = SigningQueue(workspace, objects)
        self._profiles = ProfileService(workspace)
        self._keys = KeyService(workspace)
        self._lease = lease
        self._poll_seconds = poll_seconds
        self._stopping = threading.Event()
        self.wake = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.wake.set()

    def run_forever(self) -> None:
        log.info("signing worker %s started", self.worker_id)
        while not self._stopping.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("signing worker %s failed to poll the queue", self.worker_id)
                worked = False
            if not worked:
                self.wake.wait(self._poll_seconds)
                self.wake.clear()
        log.info("signing worker %s stopped", self.worker_id)

    def run_once(self) -> bool:
        """Claim and run one job; return False when the queue had none."""
        job = self._queue.claim(self.worker_id, self._lease)
        if job is None:
            return False
        done = threading.Event()
        heartbeat = threading.Thread(target=self._renew_until_done, args=(job.job_id, done))
        heartbeat.start()
        try:
            self._execute(job)
        finally:
            done.set()
            heartbeat.join()
        return True

    def _renew_until_done(self, job_id: str, done: threading.Event) -> None:
        interval = self._lease.total_seconds() / 3
        while not done.wait(interval):
            if not self._queue.renew(job_id, self.worker_id, self._lease):
                return

    def _execute(self, job: JobRecord) -> None:
        tmp = self._ws.new_tmp_dir("job-")
        try:
            outcome = self._sign(job, tmp)
        except FirmsealError as exc:
            self._queue.fail(job.job_id, self.worker_id, str(exc))
            return
        except Exception as exc:
            log.exception("signing job %s failed unexpectedly", job.job_id)
            self._queue.fail(job.job_id, self.worker_id, f"internal error: {type(exc).__name__}")
            return
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._queue.succeed(job.job_id, self.worker_id, outcome)

    def _sign(self, job: JobRecord, tmp: Path) -> Outcome:
        view = self._profiles.get(job.profile_name, job.profile_version)
        if view.profile.status != ACTIVE or view.version.revoked_at is not None:
            raise ConflictError(
                f"signing profile {job.profile_name!r} version {job.profile_version} was "
                f"{'revoked' if view.version.revoked_at else view.profile.status.lower()} "
                "after the job was queued; start a new job on an Active profile"
            )
        platform = get_platform(job.platform_id)
        signer = self._keys.signer(view.key, platform.scheme)
        assert job.destination_bucket is not None
        source = self._objects.fetch(job.source_bucket, job.source_key, job.source_version, tmp)
        out_dir = tmp / "out"
        out_dir.mkdir()
        result = self._sign_file(job, platform, source, out_dir, signer)
        artifact = _pick_artifact(platform.format_name, result.files)
        key = signed_object_key(
            job.destination_prefix or "", job.job_id, job.source_name, artifact
        )
        with artifact.open("rb") as stream:
            self._objects.put_stream(job.destination_bucket, key, stream)
        validity = Validity(view.version.validity_type, view.version.validity_value)
        return Outcome(
            signed_object_key=key,
            source_size=result.image_size,
            image_digest=result.digest.hex(),
            signature=result.signature,
            signature_expires_at=validity.expires(job.created_at),
        )

    @staticmethod
    def _sign_file(
        job: JobRecord,
        platform: SigningPlatform,
        source: Path,
        out_dir: Path,
        signer: Signer,
    ) -> SignResult:
        size = source.stat().st_size
        if size > platform.max_size_bytes:
            raise InvalidInputError(
                f"source object is {size} bytes, over platform {platform.platform_id}'s limit "
                f"of {platform.max_size_in_mb} MB"
            )
        params = dict(json.loads(job.parameters_json))
        # NOTE: API jobs sign the object's bytes as stored; unlike `firmseal sign`, they do
        # not decode Intel HEX sources first.
        with source.open("rb") as stream:
            image = ImageInput(job.source_name, size, stream, lambda: source.open("rb"))
            context = SignContext(out_dir, params, job.job_id)
            return FORMATS[platform.format_name].sign(image, signer, context)
