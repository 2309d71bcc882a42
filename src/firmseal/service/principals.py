"""API principals: SigV4 access keys whose secrets are sealed under the workspace master key.

SigV4 verification recomputes the caller's HMAC, so the server needs the secret itself, not
a hash of it. Each secret is encrypted with AES-256-GCM under the master key, with the access
key id as associated data, so a sealed secret copied onto another principal fails to open.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firmseal.errors import ConflictError, InvalidInputError, KeyStoreError, NotFoundError
from firmseal.service.arns import principal_arn
from firmseal.service.workspace import Workspace, load_master_key
from firmseal.store.db import transaction
from firmseal.store.models import PrincipalRecord

log = logging.getLogger(__name__)

PRINCIPAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
ACCESS_KEY_PREFIX = "FSAK"
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_NONCE_BYTES = 12
_AAD_PREFIX = b"firmseal-principal-secret/1:"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, as the services see it."""

    name: str
    arn: str
    access_key_id: str
    admin: bool


@dataclass(frozen=True)
class Credentials:
    """A principal with its secret access key, for SigV4 verification only; never logged."""

    principal: Principal
    secret_access_key: str

    def __repr__(self) -> str:
        return f"Credentials(principal={self.principal!r}, secret_access_key=<hidden>)"


def new_access_key_id() -> str:
    return ACCESS_KEY_PREFIX + "".join(secrets.choice(_BASE32) for _ in range(16))


def new_secret_access_key() -> str:
    return base64.b64encode(os.urandom(30)).decode()


def seal_secret(master_key: bytes, access_key_id: str, secret: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    aad = _AAD_PREFIX + access_key_id.encode()
    sealed = AESGCM(master_key).encrypt(nonce, secret.encode(), aad)
    return base64.b64encode(nonce + sealed).decode()


def open_secret(master_key: bytes, access_key_id: str, sealed: str) -> str:
    blob = base64.b64decode(sealed)
    aad = _AAD_PREFIX + access_key_id.encode()
    try:
        return AESGCM(master_key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad).decode()
    except InvalidTag:
        raise KeyStoreError(
            f"cannot decrypt the secret of access key {access_key_id}; the master key does "
            "not match the one it was created under"
        ) from None


class PrincipalService:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._master_key = load_master_key(workspace.settings)

    def create(self, name: str, *, admin: bool) -> Credentials:
        """Create a principal and return its secret; the secret is never shown again."""
        if not PRINCIPAL_NAME.match(name):
            raise InvalidInputError(
                f"invalid principal name {name!r}; use 1 to 64 letters, digits, '_', '.', '@' "
                "and '-', starting with a letter or digit"
            )
        access_key_id = new_access_key_id()
        secret = new_secret_access_key()
        record = PrincipalRecord(
            principal_id=str(uuid.uuid4()),
            name=name,
            access_key_id=access_key_id,
            sealed_secret=seal_secret(self._master_key, access_key_id, secret),
            admin=admin,
            created_at=self._ws.clock(),
        )
        try:
            with transaction(self._ws.sessions) as session:
                session.add(record)
        except IntegrityError:
            raise ConflictError(
                f"principal {name!r} already exists; choose another name"
            ) from None
        log.info("created principal %s with access key %s", name, access_key_id)
        return Credentials(self._principal(record), secret)

    def credentials(self, access_key_id: str) -> Credentials | None:
        """Return the principal and secret of an access key, or None when it is unknown."""
        found = self.sealed(access_key_id)
        if found is None:
            return None
        principal, sealed = found
        return Credentials(principal, self.open(access_key_id, sealed))

    def sealed(self, access_key_id: str) -> tuple[Principal, str] | None:
        """Return the principal of an access key and its sealed secret, or None."""
        with self._ws.sessions() as session:
            record = session.scalars(
                select(PrincipalRecord).where(PrincipalRecord.access_key_id == access_key_id)
            ).first()
        if record is None:
            return None
        return self._principal(record), record.sealed_secret

    def open(self, access_key_id: str, sealed: str) -> str:
        return open_secret(self._master_key, access_key_id, sealed)

    def delete(self, name: str) -> Principal:
        """Delete a principal, so its access key stops working; return what was deleted.

        Permission statements that name the principal stay, so a principal created later
        under the same name is granted them again.
        """
        with transaction(self._ws.sessions) as session:
            record = self._record(session, name)
            principal = self._principal(record)
            session.execute(
                delete(PrincipalRecord).where(PrincipalRecord.principal_id == record.principal_id)
            )
        log.info("deleted principal %s with access key %s", name, principal.access_key_id)
        return principal

    def rotate(self, name: str) -> Credentials:
        """Replace a principal's access key; the old key stops working at once."""
        access_key_id = new_access_key_id()
        secret = new_secret_access_key()
        with transaction(self._ws.sessions) as session:
            record = self._record(session, name)
            old_key = record.access_key_id
            record.access_key_id = access_key_id
            record.sealed_secret = seal_secret(self._master_key, access_key_id, secret)
            principal = self._principal(record)
        log.info("rotated principal %s from access key %s to %s", name, old_key, access_key_id)
        return Credentials(principal, secret)

    @staticmethod
    def _record(session: Session, name: str) -> PrincipalRecord:
        record = session.scalars(
            select(PrincipalRecord).where(PrincipalRecord.name == name)
        ).first()
        if record is None:
            raise NotFoundError(
                f"principal {name!r} not found; `firmseal principal list` shows them"
            )
        return record

    def list_all(self) -> list[Principal]:
        with self._ws.sessions() as session:
            records = session.scalars(select(PrincipalRecord).order_by(PrincipalRecord.name))
            return [self._principal(record) for record in records]

    def _principal(self, record: PrincipalRecord) -> Principal:
        return Principal(
            name=record.name,
            arn=principal_arn(self._ws.settings, record.name),
            access_key_id=record.access_key_id,
            admin=record.admin,
        )
