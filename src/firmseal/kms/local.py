"""The `local` key store: private keys on disk only under AES-256-GCM envelope encryption.

Each key file contains a fresh 256-bit data key wrapped under the workspace master key, and
the PKCS#8 private key encrypted under that data key. Both encryptions bind the key id as
associated data, so a key file renamed to another id fails to decrypt instead of signing
under the wrong identity. Files are created with mode 0600.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firmseal.errors import InvalidInputError, KeyStoreError, NotFoundError
from firmseal.fsutil import write_new_secret
from firmseal.kms import software
from firmseal.kms.base import BackendStatus, CreatedKey, KeySpec, KeyState, SignatureScheme

log = logging.getLogger(__name__)

KEY_FILE_FORMAT = "firmseal-local-key/1"
CHECK_FILE = "master-key-check.json"
_CHECK_PLAINTEXT = b"firmseal master key check"
_CHECK_AAD = b"master-key-check"
MASTER_KEY_BYTES = 32
_NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_master_key(text: str, source: str) -> bytes:
    """Decode a base64 master key and check its length; `source` names where it came from."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise InvalidInputError(
            f"master key in {source} is not valid base64; expected 32 random bytes in base64, "
            "for example from `openssl rand -base64 32`"
        ) from exc
    if len(key) != MASTER_KEY_BYTES:
        raise InvalidInputError(
            f"master key in {source} is {len(key)} bytes; expected {MASTER_KEY_BYTES} bytes "
            "in base64, for example from `openssl rand -base64 32`"
        )
    return key


def new_master_key_text() -> bytes:
    return base64.b64encode(os.urandom(MASTER_KEY_BYTES)) + b"\n"


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, aad)).decode()


def _open(key: bytes, sealed: str, aad: bytes) -> bytes:
    blob = base64.b64decode(sealed)
    if len(blob) < _NONCE_BYTES + 16:
        raise InvalidTag
    return AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)


class LocalKeyStore:
    """Envelope-encrypted key files in one folder, addressed as `local:KEY_ID`."""

    name = "local"

    def __init__(self, folder: Path, master_key: bytes) -> None:
        self._folder = folder
        self._master_key = master_key
        self._master_key_checked = False

    def has_keys(self) -> bool:
        return any(self._folder.glob("*.key.json"))

    def check_master_key(self) -> None:
        """Prove the master key is the one this store was created with; raise if not.

        The first call on a store without a check file decrypts one existing key (if any)
        and then writes the check file, so later calls cost one AES-GCM decryption.
        """
        path = self._folder / CHECK_FILE
        if path.exists():
            try:
                sealed = json.loads(path.read_bytes())["sealed"]
                matches = _open(self._master_key, sealed, _CHECK_AAD) == _CHECK_PLAINTEXT
            except InvalidTag:
                matches = False
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise KeyStoreError(f"master key check file {path} is damaged: {exc}") from None
            if not matches:
                raise KeyStoreError(
                    f"the master key does not match the key store in {self._folder}; set "
                    "FIRMSEAL_MASTER_KEY (or restore master.key) to the original master key"
                )
        else:
            existing = next(iter(sorted(self._folder.glob("*.key.json"))), None)
            if existing is not None:
                self._load("local:" + existing.name.removesuffix(".key.json"))
            document = {"sealed": _seal(self._master_key, _CHECK_PLAINTEXT, _CHECK_AAD)}
            write_new_secret(path, json.dumps(document).encode())
        self._master_key_checked = True

    def create_key(self, spec: KeySpec) -> CreatedKey:
        key_id = str(uuid.uuid4())
        private_key = software.generate_private_key(spec)
        pkcs8 = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        data_key = AESGCM.generate_key(bit_length=256)
        aad = key_id.encode()
        document = {
            "format": KEY_FILE_FORMAT,
            "key_id": key_id,
            "spec": spec.value,
            "wrapped_data_key": _seal(self._master_key, data_key, aad),
            "encrypted_private_key": _seal(data_key, pkcs8, aad),
        }
        write_new_secret(self._path(key_id), json.dumps(document, indent=2).encode())
        log.debug("created local key %s (%s)", key_id, spec)
        return CreatedKey(f"local:{key_id}", spec, software.public_key_der(private_key))

    def public_key_der(self, uri: str) -> bytes:
        return software.public_key_der(self._load(uri))

    def sign_digest(self, uri: str, digest: bytes, scheme: SignatureScheme) -> bytes:
        return software.sign_digest(self._load(uri), digest, scheme)

    def key_state(self, uri: str) -> KeyState:
        """Return Enabled while the key file exists; Disabled is recorded by the service."""
        if self._path(self._key_id(uri)).exists():
            return KeyState.ENABLED
        raise NotFoundError(f"key file for {uri} is missing from {self._folder}")

    def adopt_key(self, uri: str) -> CreatedKey:
        """Decrypt an existing key file to check it and return its spec and public key."""
        key = self._load(uri)
        public_key = key.public_key()
        return CreatedKey(
            uri, software.spec_of_public_key(public_key), software.public_key_der(key)
        )

    def check(self) -> BackendStatus:
        """Report whether the key folder exists and is writable, and how many keys it holds."""
        if not self._folder.is_dir():
            return BackendStatus(self.name, False, f"key folder {self._folder} does not exist")
        if not os.access(self._folder, os.W_OK | os.X_OK):
            return BackendStatus(self.name, False, f"key folder {self._folder} is not writable")
        count = sum(1 for _ in self._folder.glob("*.key.json"))
        return BackendStatus(self.name, True, f"key folder {self._folder}, key files: {count}")

    def _key_id(self, uri: str) -> str:
        scheme, _, key_id = uri.partition(":")
        if scheme != "local" or not _KEY_ID.match(key_id):
            raise InvalidInputError(f"invalid local key URI {uri!r}; expected local:UUID")
        return key_id

    def _path(self, key_id: str) -> Path:
        return self._folder / f"{key_id}.key.json"

    def _load(self, uri: str) -> software.SigningKey:
        key_id = self._key_id(uri)
        path = self._path(key_id)
        try:
            document = json.loads(path.read_bytes())
        except FileNotFoundError as exc:
            raise NotFoundError(f"key file for {uri} is missing from {self._folder}") from exc
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"key file {path} is unreadable or damaged: {exc}") from exc
        if (
            not isinstance(document, dict)
            or document.get("format") != KEY_FILE_FORMAT
            or document.get("key_id") != key_id
        ):
            raise KeyStoreError(f"key file {path} is not a {KEY_FILE_FORMAT} file for {uri}")
        aad = key_id.encode()
        try:
            data_key = _open(self._master_key, document["wrapped_data_key"], aad)
            pkcs8 = _open(data_key, document["encrypted_private_key"], aad)
            # The key was generated here and its bytes are authenticated by AES-GCM, so the
            # slow RSA consistency check (tens of milliseconds per load) adds nothing.
            key = serialization.load_der_private_key(
                pkcs8, password=None, unsafe_skip_rsa_key_validation=True
            )
        except InvalidTag:
            if self._master_key_checked:
                raise KeyStoreError(
                    f"cannot decrypt key {uri}: its key file {path} is damaged or belongs to "
                    "another key store (the master key itself matches this store)"
                ) from None
            raise KeyStoreError(
                f"cannot decrypt key {uri}: the master key does not match the one it was "
                "encrypted under; set FIRMSEAL_MASTER_KEY (or restore master.key) to the "
                "original master key"
            ) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyStoreError(f"key file {path} is damaged: {exc!r}") from None
        if not isinstance(key, software.SigningKey):
            raise KeyStoreError(f"key file {path} contains an unsupported key type")
        return key
