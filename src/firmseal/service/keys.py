"""Signing keys: create, list, enable or disable, and export public keys only."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid

from cryptography.hazmat.primitives import serialization
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firmseal.errors import ConflictError, InvalidInputError, NotFoundError
from firmseal.kms.base import (
    BackendSigner,
    CreatedKey,
    KeySpec,
    KeyState,
    SignatureScheme,
    load_public_key,
)
from firmseal.service.names import CA_KEY_PREFIX, check_key_alias
from firmseal.service.workspace import Workspace
from firmseal.store.db import transaction
from firmseal.store.models import KeyRecord

log = logging.getLogger(__name__)

PUBLIC_KEY_FORMATS = ("pem", "der", "c")


def parse_spec(text: str) -> KeySpec:
    try:
        return KeySpec(text.upper())
    except ValueError:
        known = ", ".join(spec.value for spec in KeySpec)
        raise InvalidInputError(f"invalid key spec {text!r}; expected one of {known}") from None


def fingerprint(record: KeyRecord) -> str:
    return hashlib.sha256(record.public_key_der).hexdigest()


def find_key(session: Session, name: str) -> KeyRecord:
    """Find a key by alias, key id or URI."""
    record = session.scalars(
        select(KeyRecord).where(
            or_(KeyRecord.alias == name, KeyRecord.key_id == name, KeyRecord.uri == name)
        )
    ).first()
    if record is None:
        raise NotFoundError(f"key {name!r} not found; list keys with `firmseal key list`")
    return record


class KeyService:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def create(
        self, alias: str, spec: KeySpec, backend_name: str = "local", *, for_ca: bool = False
    ) -> KeyRecord:
        """Generate a key in `backend_name` (local, pkcs11 or aws-kms) and record it."""
        self._check_new_alias(alias, for_ca)
        backend = self._ws.backend(backend_name)
        created = backend.create_key(spec)
        record = self._save(alias, backend_name, created)
        log.info("created key %s (%s, %s) as %s", alias, spec, backend_name, created.uri)
        return record

    def import_ref(self, alias: str, uri: str, allow_extractable: bool = False) -> KeyRecord:
        """Record an existing backend key by URI; the private key stays where it is.

        The backend is chosen from the URI. A PKCS#11 key that can leave its token is
        rejected unless `allow_extractable` is set.
        """
        self._check_new_alias(alias, for_ca=False)
        backend_name, adopted = self._ws.backends.adopt(uri, allow_extractable)
        with self._ws.sessions() as session:
            existing = session.scalars(
                select(KeyRecord).where(KeyRecord.uri == adopted.uri)
            ).first()
            if existing is not None:
                raise ConflictError(f"key {adopted.uri} is already recorded as {existing.alias!r}")
        record = self._save(alias, backend_name, adopted)
        log.info("recorded %s key %s (%s) as %s", backend_name, alias, adopted.spec, adopted.uri)
        return record

    def _check_new_alias(self, alias: str, for_ca: bool) -> None:
        check_key_alias(alias)
        if alias.startswith(CA_KEY_PREFIX) and not for_ca:
            raise InvalidInputError(
                f"invalid key alias {alias!r}; aliases starting with {CA_KEY_PREFIX!r} are "
                "reserved for CA keys, which `firmseal ca create` makes"
            )
        with self._ws.sessions() as session:
            if session.scalars(select(KeyRecord).where(KeyRecord.alias == alias)).first():
                raise ConflictError(f"key alias {alias!r} already exists; choose another alias")

    def _save(self, alias: str, backend_name: str, created: CreatedKey) -> KeyRecord:
        record = KeyRecord(
            key_id=str(uuid.uuid4()),
            alias=alias,
            backend=backend_name,
            uri=created.uri,
            spec=created.spec.value,
            state=KeyState.ENABLED.value,
            public_key_der=created.public_key_der,
            created_at=self._ws.clock(),
        )
        try:
            with transaction(self._ws.sessions) as session:
                session.add(record)
        except IntegrityError:
            raise ConflictError(
                f"key alias {alias!r} or URI {created.uri} is already recorded"
            ) from None
        return record

    def list_all(self) -> list[KeyRecord]:
        with self._ws.sessions() as session:
            return list(session.scalars(select(KeyRecord).order_by(KeyRecord.created_at)))

    def get(self, name: str) -> KeyRecord:
        with self._ws.sessions() as session:
            return find_key(session, name)

    def set_state(self, name: str, state: KeyState) -> KeyRecord:
        with transaction(self._ws.sessions) as session:
            record = find_key(session, name)
            if record.state == KeyState.PENDING_DELETION:
                raise ConflictError(f"key {record.alias!r} is pending deletion")
            record.state = state.value
        log.info("key %s is now %s", record.alias, state)
        return record

    def signer(self, record: KeyRecord, scheme: SignatureScheme) -> BackendSigner:
        """Return a signer for an Enabled key; raise if firmseal or the backend disabled it."""
        check_enabled(record)
        backend = self._ws.backend(record.backend)
        backend_state = backend.key_state(record.uri)
        if backend_state != KeyState.ENABLED:
            raise ConflictError(
                f"key {record.alias!r} is {backend_state} in the {record.backend} backend"
            )
        return BackendSigner(backend, record.uri, scheme)


def render_public_key(record: KeyRecord, output_format: str) -> bytes:
    """Render a public key as PEM, DER, or a C array of the DER SubjectPublicKeyInfo."""
    der = record.public_key_der
    if output_format == "der":
        return der
    if output_format == "pem":
        return load_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if output_format == "c":
        return _c_array(record, der).encode()
    raise InvalidInputError(
        f"invalid public key format {output_format!r}; expected one of "
        f"{', '.join(PUBLIC_KEY_FORMATS)}"
    )


def _c_array(record: KeyRecord, der: bytes) -> str:
    identifier = re.sub(r"[^A-Za-z0-9_]", "_", record.alias)
    if identifier[0].isdigit():
        identifier = f"key_{identifier}"
    rows = [
        "    " + " ".join(f"0x{byte:02x}," for byte in der[offset : offset + 12])
        for offset in range(0, len(der), 12)
    ]
    return (
        f"/* firmseal key {record.alias} ({record.spec}): DER SubjectPublicKeyInfo,\n"
        f" * SHA-256 fingerprint {fingerprint(record)} */\n"
        f"const unsigned char {identifier}_public_key[] = {{\n"
        + "\n".join(rows)
        + f"\n}};\nconst unsigned int {identifier}_public_key_len = {len(der)};\n"
    )


def check_enabled(record: KeyRecord) -> None:
    if record.state != KeyState.ENABLED:
        raise ConflictError(
            f"key {record.alias!r} is {record.state}; enable it with "
            f"`firmseal key enable {record.alias}` or use another key"
        )
