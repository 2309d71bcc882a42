"""The `pkcs11` backend: keys inside an HSM or token, reached through a PKCS#11 module.

Keys are named by RFC 7512 URIs such as `pkcs11:token=fw;object=release-2026;id=%01;type=private`.
Generated private keys are token objects with CKA_SENSITIVE true and CKA_EXTRACTABLE false,
so the token never releases them. Signing sends only the digest to the token.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import pkcs11
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11

from firmseal.device.keys import public_key_der
from firmseal.device.mcuboot_layout import with_article
from firmseal.errors import BackendError, FirmsealError, InvalidInputError, NotFoundError
from firmseal.kms import pkcs11_keys, software
from firmseal.kms.base import BackendStatus, CreatedKey, KeySpec, KeyState, SignatureScheme
from firmseal.kms.pkcs11_config import Pkcs11Config
from firmseal.kms.pkcs11_session import LOST_SESSION_ERRORS, SessionPool, error_name, pool_for
from firmseal.kms.pkcs11_uri import Pkcs11Uri, format_uri, parse_uri

log = logging.getLogger(__name__)

T = TypeVar("T")

_KEY_TYPE_NAMES = {KeyType.EC: "EC", KeyType.RSA: "RSA", KeyType.EC_EDWARDS: "Edwards (EdDSA)"}
_GENERATION_MECHANISMS = {
    KeyType.EC: Mechanism.EC_KEY_PAIR_GEN,
    KeyType.EC_EDWARDS: Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
    KeyType.RSA: Mechanism.RSA_PKCS_KEY_PAIR_GEN,
}
_PRIVATE_KEY_ATTRIBUTES = [
    Attribute.KEY_TYPE,
    Attribute.LABEL,
    Attribute.ID,
    Attribute.SIGN,
    Attribute.SENSITIVE,
    Attribute.EXTRACTABLE,
    Attribute.ALWAYS_SENSITIVE,
    Attribute.NEVER_EXTRACTABLE,
]


@dataclass(frozen=True)
class _KeyReference:
    """The search attributes a URI names, checked against the configured token."""

    uri: str
    label: str | None
    key_id: bytes | None

    def template(self, object_class: ObjectClass) -> dict[Attribute, Any]:
        template: dict[Attribute, Any] = {Attribute.CLASS: object_class}
        if self.label is not None:
            template[Attribute.LABEL] = self.label
        if self.key_id is not None:
            template[Attribute.ID] = self.key_id
        return template


class Pkcs11Backend:
    """Keys on one PKCS#11 token. Safe to share between threads."""

    name = "pkcs11"

    def __init__(self, config: Pkcs11Config) -> None:
        self._config = config
        pool_for(config)

    @property
    def _pool(self) -> SessionPool:
        """The process-wide session pool of this token.

        It is looked up on every use, so after `close_pools()` the next call logs in again.
        """
        return pool_for(self._config)

    @classmethod
    def from_env(cls) -> Pkcs11Backend:
        return cls(Pkcs11Config.from_env())

    @property
    def token_label(self) -> str:
        return self._config.token_label

    def create_key(self, spec: KeySpec) -> CreatedKey:
        """Generate a non-extractable, sensitive key pair on the token."""
        label = f"firmseal-{uuid.uuid4()}"
        key_id = os.urandom(16)
        der = self._with_session(
            lambda session: self._generate(session, spec, label, key_id),
            f"generating {with_article(spec)} key",
        )
        uri = format_uri(
            Pkcs11Uri(token=self.token_label, object=label, id=key_id, type="private")
        )
        log.info("generated %s key %s on PKCS#11 token %r", spec, uri, self.token_label)
        return CreatedKey(uri, spec, der)

    def adopt_key(self, uri: str, allow_extractable: bool = False) -> CreatedKey:
        """Check an existing private key named by `uri` and return its canonical URI.

        A key whose private part can leave the token, or may have been outside it
        (CKA_EXTRACTABLE true, CKA_SENSITIVE false, CKA_NEVER_EXTRACTABLE false or
        CKA_ALWAYS_SENSITIVE false), raises InvalidInputError unless `allow_extractable` is
        set. With it, the key is adopted and the returned key carries a warning, which is
        also logged.
        """
        reference = self._reference(uri)
        return self._with_session(
            lambda session: self._adopt(session, reference, allow_extractable),
            f"adopting {uri}",
        )

    def public_key_der(self, uri: str) -> bytes:
        reference = self._reference(uri)
        return self._with_session(
            lambda session: self._public_key_der(session, reference),
            f"reading the public key of {uri}",
        )

    def sign_digest(self, uri: str, digest: bytes, scheme: SignatureScheme) -> bytes:
        """Sign on the token; ECDSA results are converted from r||s to DER."""
        reference = self._reference(uri)
        choice = pkcs11_keys.mechanism_for(scheme, digest)
        raw = self._with_session(
            lambda session: self._sign(session, reference, scheme, choice),
            f"signing with {uri}",
        )
        if choice.mechanism is Mechanism.ECDSA:
            return pkcs11_keys.ecdsa_der_from_raw(raw)
        return raw

    def key_state(self, uri: str) -> KeyState:
        """Return Enabled if the private key exists and may sign (CKA_SIGN), else Disabled."""
        reference = self._reference(uri)
        attributes = self._with_session(
            lambda session: self._private_key_attributes(session, reference),
            f"reading the state of {uri}",
        )
        return KeyState.ENABLED if attributes[Attribute.SIGN] else KeyState.DISABLED

    def check(self) -> BackendStatus:
        """Log in to the token and count its private keys."""
        try:
            count = self._with_session(self._count_private_keys, "the health check")
            token = self._pool.token()
        except FirmsealError as exc:
            return BackendStatus(self.name, False, str(exc))
        detail = (
            f"token {token.label!r} ({token.manufacturer_id} {token.model}) in module "
            f"{self._config.module_path}: logged in, {count} private keys"
        )
        return BackendStatus(self.name, True, detail)

    def _reference(self, uri: str) -> _KeyReference:
        parsed = parse_uri(uri)
        # Only token, object, id and type are matched. Every other RFC 7512 attribute (token
        # identification other than the label, library and slot attributes, query and vendor
        # attributes) is rejected rather than ignored, so a URI never matches more keys than
        # it names.
        unsupported = [*parsed.path, *parsed.query]
        if unsupported:
            raise InvalidInputError(
                f"key URI {uri!r} has unsupported attribute {unsupported[0]}; remove it. "
                "firmseal matches only token, object, id and type on the token named by "
                "FIRMSEAL_PKCS11_TOKEN, in the module named by FIRMSEAL_PKCS11_MODULE"
            )
        if parsed.token is not None and parsed.token != self.token_label:
            raise InvalidInputError(
                f"key URI {uri!r} names token {parsed.token!r}, but FIRMSEAL_PKCS11_TOKEN is "
                f"{self.token_label!r}"
            )
        if parsed.object is None and parsed.id is None:
            raise InvalidInputError(f"key URI {uri!r} names no key; add object=LABEL or id=%XX...")
        if parsed.type not in (None, "private"):
            raise InvalidInputError(
                f"key URI {uri!r} has type={parsed.type}; a signing key URI needs type=private"
            )
        return _KeyReference(uri, parsed.object, parsed.id)

    def _with_session(self, operation: Callable[[pkcs11.Session], T], action: str) -> T:
        """Run `operation` on a pooled session; reopen and retry once if the session is lost."""
        try:
            return self._attempt(operation, action)
        except LOST_SESSION_ERRORS as exc:
            log.warning(
                "PKCS#11 session on token %r was lost while %s (%s); reopening and retrying once",
                self.token_label,
                action,
                error_name(exc),
            )
        try:
            return self._attempt(operation, action)
        except LOST_SESSION_ERRORS as exc:
            raise BackendError(
                f"PKCS#11 token {self.token_label!r} failed while {action}, and again after "
                f"reopening the session: {error_name(exc)}; check that the token is connected"
            ) from exc

    def _attempt(self, operation: Callable[[pkcs11.Session], T], action: str) -> T:
        try:
            with self._pool.session() as session:
                return operation(session)
        except LOST_SESSION_ERRORS:
            raise
        except p11.PKCS11Error as exc:
            raise BackendError(
                f"PKCS#11 token {self.token_label!r} failed while {action}: {error_name(exc)}"
            ) from exc

    def _generate(
        self, session: pkcs11.Session, spec: KeySpec, label: str, key_id: bytes
    ) -> bytes:
        key_type = pkcs11_keys.key_type_for_spec(spec)
        self._require_mechanism(session, _GENERATION_MECHANISMS[key_type], spec)
        public_template: dict[Attribute, Any] = {Attribute.TOKEN: True, Attribute.VERIFY: True}
        if key_type is not KeyType.RSA:
            public_template[Attribute.EC_PARAMS] = pkcs11_keys.EC_PARAMS[spec]
        private_template: dict[Attribute, Any] = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
        }
        key_length = pkcs11_keys.rsa_bits(spec) if key_type is KeyType.RSA else None
        public, private = self._pool.call(
            lambda: session.generate_keypair(
                key_type,
                key_length=key_length,
                id=key_id,
                label=label,
                store=True,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                mechanism=_GENERATION_MECHANISMS[key_type],
                public_template=public_template,
                private_template=private_template,
            )
        )
        self._confirm_protected(private, spec)
        return public_key_der(self._public_key_from_object(public, key_type))

    def _require_mechanism(
        self, session: pkcs11.Session, mechanism: Mechanism, spec: KeySpec
    ) -> None:
        supported = self._pool.call(session.token.slot.get_mechanisms)
        if mechanism not in supported:
            raise InvalidInputError(
                f"PKCS#11 token {self.token_label!r} cannot generate {spec} keys: it does not "
                f"offer {mechanism.name}"
            )

    def _confirm_protected(self, private: pkcs11.PrivateKey, spec: KeySpec) -> None:
        """Destroy the new key and raise if the token ignored SENSITIVE or EXTRACTABLE."""
        attributes = self._pool.call(
            lambda: private.get_attributes([Attribute.SENSITIVE, Attribute.EXTRACTABLE])
        )
        if attributes[Attribute.SENSITIVE] and not attributes[Attribute.EXTRACTABLE]:
            return
        self._pool.call(private.destroy)
        raise BackendError(
            f"PKCS#11 token {self.token_label!r} created {with_article(spec)} key that is "
            "extractable or not sensitive although firmseal requested neither; the key was "
            "destroyed"
        )

    def _find_private_key(
        self, session: pkcs11.Session, reference: _KeyReference
    ) -> pkcs11.PrivateKey:
        template = reference.template(ObjectClass.PRIVATE_KEY)
        matches = self._pool.call(lambda: list(session.get_objects(template)))
        if not matches:
            raise NotFoundError(
                f"no private key matches {reference.uri} on PKCS#11 token {self.token_label!r}"
            )
        if len(matches) > 1:
            raise InvalidInputError(
                f"{len(matches)} private keys match {reference.uri} on PKCS#11 token "
                f"{self.token_label!r}; add id= to the URI to name one"
            )
        key = matches[0]
        assert isinstance(key, pkcs11.PrivateKey)
        return key

    def _private_key_attributes(
        self, session: pkcs11.Session, reference: _KeyReference
    ) -> dict[Attribute, Any]:
        key = self._find_private_key(session, reference)
        return self._pool.call(lambda: key.get_attributes(_PRIVATE_KEY_ATTRIBUTES))

    def _sign(
        self,
        session: pkcs11.Session,
        reference: _KeyReference,
        scheme: SignatureScheme,
        choice: pkcs11_keys.MechanismChoice,
    ) -> bytes:
        key = self._find_private_key(session, reference)
        key_type = self._pool.call(lambda: key.key_type)
        expected = pkcs11_keys.key_type_for_scheme(scheme)
        if key_type is not expected:
            raise InvalidInputError(
                f"PKCS#11 key {reference.uri} is an {_type_name(key_type)} key, but {scheme} "
                f"needs an {_type_name(expected)} key"
            )
        signer = cast(pkcs11.SignMixin, key)
        return self._pool.call(
            lambda: signer.sign(
                choice.data, mechanism=choice.mechanism, mechanism_param=choice.parameter
            )
        )

    def _adopt(
        self, session: pkcs11.Session, reference: _KeyReference, allow_extractable: bool
    ) -> CreatedKey:
        key = self._find_private_key(session, reference)
        attributes = self._pool.call(lambda: key.get_attributes(_PRIVATE_KEY_ATTRIBUTES))
        if not attributes[Attribute.SIGN]:
            raise InvalidInputError(
                f"PKCS#11 key {reference.uri} may not sign (CKA_SIGN is false)"
            )
        warnings = self._check_extractable(reference.uri, attributes, allow_extractable)
        public_key = self._public_key(session, key, reference)
        try:
            spec = software.spec_of_public_key(public_key)
        except ValueError as exc:
            raise InvalidInputError(f"PKCS#11 key {reference.uri}: {exc}") from None
        key_id = attributes[Attribute.ID] or None
        label = attributes[Attribute.LABEL] or None
        uri = format_uri(
            Pkcs11Uri(token=self.token_label, object=label, id=key_id, type="private")
        )
        log.info("adopted %s key %s on PKCS#11 token %r", spec, uri, self.token_label)
        return CreatedKey(uri, spec, public_key_der(public_key), warnings)

    def _check_extractable(
        self, uri: str, attributes: dict[Attribute, Any], allow_extractable: bool
    ) -> tuple[str, ...]:
        """Return the warning for a key whose value may exist outside the token, else ().

        Raise InvalidInputError for such a key unless `allow_extractable` is set.
        """
        reasons = _exposure_reasons(attributes)
        if not reasons:
            return ()
        if not allow_extractable:
            raise InvalidInputError(
                f"the private key of PKCS#11 key {uri} may exist outside the token "
                f"({'; '.join(reasons)}); generate a new key on the token, or pass "
                "--allow-extractable to adopt it anyway"
            )
        log.warning(
            "adopting PKCS#11 key %s although its private key may exist outside the token (%s)",
            uri,
            "; ".join(reasons),
        )
        return (
            f"adopted PKCS#11 key {uri} although its private key may exist outside the token "
            f"({'; '.join(reasons)})",
        )

    def _public_key_der(self, session: pkcs11.Session, reference: _KeyReference) -> bytes:
        key = self._find_private_key(session, reference)
        return public_key_der(self._public_key(session, key, reference))

    def _public_key(
        self, session: pkcs11.Session, private: pkcs11.PrivateKey, reference: _KeyReference
    ) -> PublicKeyTypes:
        """Read the public key from the matching public key object, or from an RSA private key.

        The public key object is the one with the private key's CKA_ID, or with its label
        when the private key has no id, as pkcs11-tool and most HSM tools create them.
        """
        attributes = self._pool.call(
            lambda: private.get_attributes([Attribute.KEY_TYPE, Attribute.ID, Attribute.LABEL])
        )
        key_type = attributes[Attribute.KEY_TYPE]
        template: dict[Attribute, Any] = {Attribute.CLASS: ObjectClass.PUBLIC_KEY}
        if attributes[Attribute.ID]:
            template[Attribute.ID] = attributes[Attribute.ID]
        else:
            template[Attribute.LABEL] = attributes[Attribute.LABEL]
        matches = self._pool.call(lambda: list(session.get_objects(template)))
        if len(matches) == 1:
            return self._public_key_from_object(matches[0], key_type)
        if key_type is KeyType.RSA:
            return self._public_key_from_object(private, key_type)
        raise NotFoundError(
            f"found {len(matches)} public key objects for PKCS#11 key {reference.uri}; "
            "expected exactly one with the private key's CKA_ID (or label, without an id)"
        )

    def _public_key_from_object(self, key: pkcs11.Object, key_type: KeyType) -> PublicKeyTypes:
        if key_type is KeyType.RSA:
            values = self._pool.call(
                lambda: key.get_attributes([Attribute.MODULUS, Attribute.PUBLIC_EXPONENT])
            )
            return pkcs11_keys.rsa_public_key(
                values[Attribute.MODULUS], values[Attribute.PUBLIC_EXPONENT]
            )
        if key_type in (KeyType.EC, KeyType.EC_EDWARDS):
            values = self._pool.call(
                lambda: key.get_attributes([Attribute.EC_PARAMS, Attribute.EC_POINT])
            )
            return pkcs11_keys.ec_public_key(
                values[Attribute.EC_PARAMS], values[Attribute.EC_POINT]
            )
        raise InvalidInputError(
            f"PKCS#11 key type {_type_name(key_type)} is not supported; firmseal signs with "
            "EC, Edwards (Ed25519) and RSA keys"
        )

    def _count_private_keys(self, session: pkcs11.Session) -> int:
        template = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
        return self._pool.call(lambda: len(list(session.get_objects(template))))


def _exposure_reasons(attributes: dict[Attribute, Any]) -> list[str]:
    """Return why a private key's value may exist outside the token, one reason a flag.

    CKA_NEVER_EXTRACTABLE and CKA_ALWAYS_SENSITIVE are false for a key that was imported
    (for example with `softhsm2-util --import` or C_CreateObject) or was ever extractable.
    """
    reasons = []
    if attributes[Attribute.EXTRACTABLE]:
        reasons.append("CKA_EXTRACTABLE is true")
    if not attributes[Attribute.SENSITIVE]:
        reasons.append("CKA_SENSITIVE is false")
    if not attributes[Attribute.NEVER_EXTRACTABLE]:
        reasons.append("CKA_NEVER_EXTRACTABLE is false, so it was imported or once extractable")
    if not attributes[Attribute.ALWAYS_SENSITIVE]:
        reasons.append("CKA_ALWAYS_SENSITIVE is false, so it was imported or once readable")
    return reasons


def _type_name(key_type: KeyType) -> str:
    return _KEY_TYPE_NAMES.get(key_type, getattr(key_type, "name", str(key_type)))
