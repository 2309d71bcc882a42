"""A private CA in the key store, code-signing certificates, and imported chains."""

from __future__ import annotations

import logging
import uuid

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firmseal.device.certificates import check_code_signing_usage, check_validity
from firmseal.device.keys import public_key_der
from firmseal.errors import ConflictError, InvalidInputError, NotFoundError
from firmseal.kms.base import KeySpec, load_public_key
from firmseal.pki import certificates as pki
from firmseal.pki.backend_keys import backend_private_key
from firmseal.service.keys import KeyService, check_enabled, find_key
from firmseal.service.names import CA_KEY_PREFIX, check_certificate_name, check_days
from firmseal.service.workspace import Workspace
from firmseal.store.db import transaction
from firmseal.store.models import CertificateRecord, KeyRecord

log = logging.getLogger(__name__)

KIND_CA = "ca"
KIND_ISSUED = "code-signing"
KIND_IMPORTED = "imported"


def find_certificate(session: Session, name: str, kind: str | None = None) -> CertificateRecord:
    """Find a certificate by name, id or ARN; with `kind`, only of that kind."""
    record = session.scalars(
        select(CertificateRecord).where(
            (CertificateRecord.name == name)
            | (CertificateRecord.certificate_id == name)
            | (CertificateRecord.arn == name)
        )
    ).first()
    noun = "CA" if kind == KIND_CA else "certificate"
    if record is None or (kind is not None and record.kind != kind):
        command = "ca list" if kind == KIND_CA else "cert list"
        raise NotFoundError(f"{noun} {name!r} not found; list them with `firmseal {command}`")
    return record


def certificate_of(record: CertificateRecord) -> x509.Certificate:
    return x509.load_pem_x509_certificate(record.certificate_pem.encode())


def chain_of(record: CertificateRecord) -> list[x509.Certificate]:
    """Return the issuer chain above the certificate (not including it)."""
    if not record.chain_pem:
        return []
    return x509.load_pem_x509_certificates(record.chain_pem.encode())


class CertificateService:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._keys = KeyService(workspace)

    def create_ca(
        self, name: str, spec: KeySpec, subject: str, days: int, backend_name: str = "local"
    ) -> CertificateRecord:
        """Create a CA key in `backend_name` and a self-signed CA certificate for it."""
        # Check everything that can fail on input before the CA key is created, so a typo
        # does not leave an orphan key that takes the alias.
        check_certificate_name(name)
        check_days(days)
        subject_name = pki.parse_subject(subject)
        self._check_name_free(name)
        key = self._keys.create(f"{CA_KEY_PREFIX}{name}", spec, backend_name, for_ca=True)
        ca_key = backend_private_key(self._ws.backend(key.backend), key.uri)
        certificate = pki.issue_ca(ca_key, subject_name, days, self._ws.clock())
        return self._save(
            name, kind=KIND_CA, key=key, certificate=certificate, chain=[], issuer_id=None
        )

    def issue(
        self, name: str, ca_name: str, key_name: str, subject: str, days: int
    ) -> CertificateRecord:
        check_certificate_name(name)
        check_days(days)
        subject_name = pki.parse_subject(subject)
        self._check_name_free(name)
        with self._ws.sessions() as session:
            ca = find_certificate(session, ca_name, KIND_CA)
            ca_key_record = session.get(KeyRecord, ca.key_id)
            subject_key = find_key(session, key_name)
        if ca_key_record is None:
            raise NotFoundError(f"the key of CA {ca_name!r} is missing from the workspace")
        check_enabled(ca_key_record)
        ca_certificate = certificate_of(ca)
        ca_key = backend_private_key(self._ws.backend(ca_key_record.backend), ca_key_record.uri)
        certificate = pki.issue_code_signing(
            ca_key,
            ca_certificate=ca_certificate,
            subject_public_key=load_public_key(subject_key.public_key_der),
            subject=subject_name,
            days=days,
            now=self._ws.clock(),
        )
        return self._save(
            name,
            kind=KIND_ISSUED,
            key=subject_key,
            certificate=certificate,
            chain=[ca_certificate],
            issuer_id=ca.certificate_id,
        )

    def import_chain(
        self, name: str, key_name: str, data: bytes, source: str
    ) -> CertificateRecord:
        """Import a certificate for a key, with its issuer chain, from PEM or DER."""
        check_certificate_name(name)
        self._check_name_free(name)
        certificates = pki.load_certificates(data, source)
        key = self.key(key_name)
        leaf = [c for c in certificates if public_key_der(c.public_key()) == key.public_key_der]
        if not leaf:
            raise InvalidInputError(
                f"no certificate in {source} is for key {key.alias!r}; the file must contain "
                "the certificate whose public key is that key's"
            )
        check_code_signing_usage(leaf[0])
        check_validity(leaf[0], self._ws.clock())
        chain = [c for c in certificates if c is not leaf[0]]
        return self._save(
            name, kind=KIND_IMPORTED, key=key, certificate=leaf[0], chain=chain, issuer_id=None
        )

    def key(self, name: str) -> KeyRecord:
        return self._keys.get(name)

    def get(self, name: str, kind: str | None = None) -> CertificateRecord:
        with self._ws.sessions() as session:
            return find_certificate(session, name, kind)

    def list_all(self, kind: str | None = None) -> list[CertificateRecord]:
        query = select(CertificateRecord).order_by(CertificateRecord.created_at)
        if kind == KIND_CA:
            query = query.where(CertificateRecord.kind == KIND_CA)
        elif kind is not None:
            query = query.where(CertificateRecord.kind != KIND_CA)
        with self._ws.sessions() as session:
            return list(session.scalars(query))

    def export_pem(self, name: str, *, chain: bool, kind: str | None = None) -> str:
        record = self.get(name, kind)
        certificates = [certificate_of(record)]
        if chain:
            certificates += chain_of(record)
        return pki.to_pem(certificates)

    def _check_name_free(self, name: str) -> None:
        with self._ws.sessions() as session:
            taken = session.scalars(
                select(CertificateRecord).where(CertificateRecord.name == name)
            ).first()
        if taken is not None:
            raise ConflictError(f"certificate name {name!r} already exists; choose another name")

    def _save(
        self,
        name: str,
        *,
        kind: str,
        key: KeyRecord,
        certificate: x509.Certificate,
        chain: list[x509.Certificate],
        issuer_id: str | None,
    ) -> CertificateRecord:
        settings = self._ws.settings
        certificate_id = str(uuid.uuid4())
        record = CertificateRecord(
            certificate_id=certificate_id,
            name=name,
            arn=pki.certificate_arn(
                settings.partition, settings.region, settings.account_id, certificate_id
            ),
            kind=kind,
            key_id=key.key_id,
            issuer_certificate_id=issuer_id,
            certificate_pem=pki.to_pem([certificate]),
            chain_pem=pki.to_pem(chain),
            subject=certificate.subject.rfc4514_string(),
            serial_number=f"{certificate.serial_number:x}",
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            created_at=self._ws.clock(),
        )
        try:
            with transaction(self._ws.sessions) as session:
                session.add(record)
        except IntegrityError:
            raise ConflictError(
                f"certificate name {name!r} already exists; choose another name"
            ) from None
        log.info("stored %s certificate %s (%s)", kind, name, record.arn)
        return record
