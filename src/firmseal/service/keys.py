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

from firmseal.device.errors import VerificationError
from firmseal.device.mcuboot_layout import McubootAlgorithm, algorithm_of_key, key_bytes
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

PUBLIC_KEY_FORMATS = ("pem", "der", "c", "rust", "hash")


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

    def import_ref(
        self, alias: str, uri: str, allow_extractable: bool = False
    ) -> tuple[KeyRecord, tuple[str, ...]]:
        """Record an existing backend key by URI; the private key stays where it is.

        The backend is chosen from the URI. A PKCS#11 key that can leave its token is
        rejected unless `allow_extractable` is set. Returns the record and the backend's
        warnings about the key, which the caller shows to the operator.
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
        return record, adopted.warnings

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
    """Render a public key as PEM, DER, or source code for a bootloader.

    `c` and `rust` are arrays of the key as MCUboot embeds it (the DER
    SubjectPublicKeyInfo, or the PKCS#1 RSAPublicKey for RSA keys); `hash` is a C array of
    the key hash MCUboot compares with an image's KEYHASH TLV.
    """
    der = record.public_key_der
    if output_format == "der":
        return der
    if output_format == "pem":
        return load_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if output_format in ("c", "rust", "hash"):
        return _source_code(record, output_format).encode()
    raise InvalidInputError(
        f"invalid public key format {output_format!r}; expected one of "
        f"{', '.join(PUBLIC_KEY_FORMATS)}"
    )


def _identifier(alias: str) -> str:
    identifier = re.sub(r"[^A-Za-z0-9_]", "_", alias)
    return f"key_{identifier}" if identifier[0].isdigit() else identifier


def _embedded_key(record: KeyRecord) -> tuple[bytes, str, McubootAlgorithm | None]:
    """Return the key bytes a bootloader embeds, their description, and the MCUboot type."""
    public_key = load_public_key(record.public_key_der)
    try:
        algorithm = algorithm_of_key(public_key)
    except VerificationError:
        return record.public_key_der, "DER SubjectPublicKeyInfo", None
    if algorithm in (McubootAlgorithm.RSA_2048, McubootAlgorithm.RSA_3072):
        return key_bytes(public_key), "DER PKCS#1 RSAPublicKey, as MCUboot embeds RSA", algorithm
    return key_bytes(public_key), "DER SubjectPublicKeyInfo", algorithm


def _source_code(record: KeyRecord, output_format: str) -> str:
    data, description, algorithm = _embedded_key(record)
    name = _identifier(record.alias)
    if output_format == "hash":
        hash_name = algorithm.hash_name if algorithm is not None else "sha256"
        data = hashlib.new(hash_name, data).digest()
        description = f"{hash_name.upper()} of the {description} (MCUboot KEYHASH)"
        name = f"{name}_public_key_hash"
    else:
        name = f"{name}_public_key"
    comment = f"firmseal key {record.alias} ({record.spec}): {description}"
    if output_format == "rust":
        return _rust_array(name.upper(), data, comment)
    return _c_array(name, data, comment, fingerprint(record))


def _byte_rows(data: bytes) -> str:
    return "\n".join(
        "    " + " ".join(f"0x{byte:02x}," for byte in data[offset : offset + 12])
        for offset in range(0, len(data), 12)
    )


def _c_array(name: str, data: bytes, comment: str, key_fingerprint: str) -> str:
    return (
        f"/* {comment},\n"
        f" * SHA-256 fingerprint {key_fingerprint} */\n"
        f"const unsigned char {name}[] = {{\n"
        + _byte_rows(data)
        + f"\n}};\nconst unsigned int {name}_len = {len(data)};\n"
    )


def _rust_array(name: str, data: bytes, comment: str) -> str:
    return f"// {comment}\npub static {name}: &[u8] = &[\n" + _byte_rows(data) + "\n];\n"


def check_enabled(record: KeyRecord) -> None:
    if record.state != KeyState.ENABLED:
        raise ConflictError(
            f"key {record.alias!r} is {record.state}; enable it with "
            f"`firmseal key enable {record.alias}` or use another key"
        )
