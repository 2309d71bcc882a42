"""The pkcs11 backend against a real SoftHSM2 token."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import SimpleNamespace

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, utils
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.rsa import decode_rsa_private_key, decode_rsa_public_key

from backends.conftest import SPARE_TOKEN, SoftHsm
from backends.signatures import device_verify, digest_for, openssl_verify
from firmseal.device.errors import SignatureMismatchError
from firmseal.errors import AccessDeniedError, BackendError, InvalidInputError, NotFoundError
from firmseal.kms import software
from firmseal.kms.base import KeyBackend, KeySpec, KeyState, SignatureScheme
from firmseal.kms.pkcs11 import Pkcs11Backend
from firmseal.kms.pkcs11_config import Pkcs11Config
from firmseal.kms.pkcs11_session import close_pools, pool_for
from firmseal.kms.pkcs11_uri import parse_uri
from firmseal.kms.secret import Secret

# python-pkcs11 0.10 cancels an unfinished operation in OperationContext.__del__, which raises
# SessionHandleInvalid there when the test closed the session underneath it.
_IGNORE_CANCEL_ERRORS = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)


SIGNING_CASES = [
    (KeySpec.ECC_NIST_P256, SignatureScheme.ECDSA_SHA256),
    (KeySpec.ECC_NIST_P384, SignatureScheme.ECDSA_SHA384),
    (KeySpec.ED25519, SignatureScheme.ED25519),
    (KeySpec.RSA_2048, SignatureScheme.RSA_PSS_SHA256),
    (KeySpec.RSA_3072, SignatureScheme.RSA_PSS_SHA384),
    (KeySpec.RSA_2048, SignatureScheme.RSA_PKCS1_SHA256),
    (KeySpec.RSA_3072, SignatureScheme.RSA_PKCS1_SHA384),
]


@pytest.fixture
def backend(softhsm: SoftHsm) -> Pkcs11Backend:
    return Pkcs11Backend(softhsm.config())


@pytest.fixture(scope="module")
def keys(softhsm: SoftHsm) -> dict[KeySpec, str]:
    """One generated key per spec, shared by the signing tests because RSA-3072 is slow."""
    backend = Pkcs11Backend(softhsm.config())
    return {spec: backend.create_key(spec).uri for spec in KeySpec}


def _own_session(softhsm: SoftHsm, token_label: str = "firmseal-test") -> pkcs11.Session:
    """Log out the backends' pools and open a logged-in session of the test's own."""
    close_pools()
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=token_label)
    return token.open(rw=True, user_pin=softhsm.pin)


def _private_key_attributes(softhsm: SoftHsm, uri: str) -> dict[Attribute, object]:
    """Read a key's protection attributes through a session of the test's own."""
    parsed = parse_uri(uri)
    names = [
        Attribute.SENSITIVE,
        Attribute.EXTRACTABLE,
        Attribute.ALWAYS_SENSITIVE,
        Attribute.NEVER_EXTRACTABLE,
        Attribute.TOKEN,
        Attribute.PRIVATE,
    ]
    with _own_session(softhsm) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=parsed.id)
        return key.get_attributes(names)


def _import_software_key(
    softhsm: SoftHsm, private_key: rsa.RSAPrivateKey, label: str, extractable: bool
) -> None:
    """Store an in-process RSA key on the token, so its signatures can be compared."""
    private_der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    common = {Attribute.TOKEN: True, Attribute.LABEL: label, Attribute.ID: label.encode()}
    private = decode_rsa_private_key(private_der) | common
    private |= {Attribute.SIGN: True, Attribute.SENSITIVE: not extractable}
    private[Attribute.EXTRACTABLE] = extractable
    public = decode_rsa_public_key(public_der) | common
    with _own_session(softhsm) as session:
        session.create_object(private)
        session.create_object(public)


def test_backend_satisfies_protocol(backend: Pkcs11Backend) -> None:
    assert isinstance(backend, KeyBackend)
    assert backend.name == "pkcs11"


@pytest.mark.parametrize("spec", list(KeySpec))
def test_generated_key_protected(
    softhsm: SoftHsm, keys: dict[KeySpec, str], spec: KeySpec
) -> None:
    attributes = _private_key_attributes(softhsm, keys[spec])
    assert attributes[Attribute.SENSITIVE] is True
    assert attributes[Attribute.EXTRACTABLE] is False
    assert attributes[Attribute.ALWAYS_SENSITIVE] is True
    assert attributes[Attribute.NEVER_EXTRACTABLE] is True
    assert attributes[Attribute.TOKEN] is True
    assert attributes[Attribute.PRIVATE] is True


@pytest.mark.parametrize("spec", list(KeySpec))
def test_generated_key_uri_and_spec(
    backend: Pkcs11Backend, keys: dict[KeySpec, str], spec: KeySpec
) -> None:
    parsed = parse_uri(keys[spec])
    assert parsed.token == "firmseal-test"
    assert parsed.type == "private"
    assert parsed.object is not None
    assert parsed.object.startswith("firmseal-")
    assert parsed.id is not None
    assert len(parsed.id) == 16
    public_key = serialization.load_der_public_key(backend.public_key_der(keys[spec]))
    assert software.spec_of_public_key(public_key) is spec


@pytest.mark.parametrize(("spec", "scheme"), SIGNING_CASES)
def test_signature_verifies_independently(
    backend: Pkcs11Backend,
    keys: dict[KeySpec, str],
    tmp_path: Path,
    spec: KeySpec,
    scheme: SignatureScheme,
) -> None:
    digest = digest_for(scheme, b"firmware image " + spec.value.encode())
    public_der = backend.public_key_der(keys[spec])
    signature = backend.sign_digest(keys[spec], digest, scheme)

    result = openssl_verify(tmp_path, public_der, signature, digest, scheme)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout
    device_verify(public_der, signature, digest, scheme)


@pytest.mark.parametrize(("spec", "scheme"), SIGNING_CASES)
def test_signature_fails_for_other_digest(
    backend: Pkcs11Backend,
    keys: dict[KeySpec, str],
    tmp_path: Path,
    spec: KeySpec,
    scheme: SignatureScheme,
) -> None:
    digest = digest_for(scheme, b"signed image")
    other = digest_for(scheme, b"tampered image")
    public_der = backend.public_key_der(keys[spec])
    signature = backend.sign_digest(keys[spec], digest, scheme)

    assert openssl_verify(tmp_path, public_der, signature, other, scheme).returncode != 0
    with pytest.raises((SignatureMismatchError, InvalidSignature)):
        device_verify(public_der, signature, other, scheme)


@pytest.mark.parametrize("spec", [KeySpec.ECC_NIST_P256, KeySpec.ECC_NIST_P384])
def test_ecdsa_signature_is_der(
    backend: Pkcs11Backend, keys: dict[KeySpec, str], spec: KeySpec
) -> None:
    scheme = SignatureScheme.ECDSA_SHA256
    if spec is KeySpec.ECC_NIST_P384:
        scheme = SignatureScheme.ECDSA_SHA384
    signature = backend.sign_digest(keys[spec], digest_for(scheme, b"x"), scheme)
    r, s = utils.decode_dss_signature(signature)
    assert signature[0] == 0x30
    assert utils.encode_dss_signature(r, s) == signature
    assert r > 0
    assert s > 0


def test_pkcs1_signature_matches_software(softhsm: SoftHsm, backend: Pkcs11Backend) -> None:
    """RSA PKCS#1 v1.5 is deterministic, so the token must produce the reference bytes."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _import_software_key(softhsm, private_key, "imported-rsa-pkcs1", extractable=False)
    uri = "pkcs11:token=firmseal-test;object=imported-rsa-pkcs1"
    for scheme in (SignatureScheme.RSA_PKCS1_SHA256, SignatureScheme.RSA_PKCS1_SHA384):
        digest = digest_for(scheme, b"certificate to be signed")
        expected = software.sign_digest(private_key, digest, scheme)
        assert backend.sign_digest(uri, digest, scheme) == expected


def test_concurrent_signing_eight_threads(
    backend: Pkcs11Backend, keys: dict[KeySpec, str]
) -> None:
    uri = keys[KeySpec.ECC_NIST_P256]
    public_der = backend.public_key_der(uri)
    scheme = SignatureScheme.ECDSA_SHA256
    start = threading.Barrier(8)
    errors: list[BaseException] = []
    results: list[tuple[bytes, bytes]] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        start.wait()
        for round_number in range(25):
            digest = digest_for(scheme, f"{index}-{round_number}".encode())
            try:
                signature = backend.sign_digest(uri, digest, scheme)
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                return
            with lock:
                results.append((digest, signature))

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(results) == 8 * 25
    for digest, signature in results:
        device_verify(public_der, signature, digest, scheme)


def test_wrong_pin_rejected(softhsm: SoftHsm) -> None:
    wrong_pin = "not-" + softhsm.pin
    backend = Pkcs11Backend(softhsm.config(pin=wrong_pin))
    with pytest.raises(AccessDeniedError) as caught:
        backend.create_key(KeySpec.ECC_NIST_P256)
    assert str(caught.value) == (
        "PKCS#11 token 'firmseal-test' rejected the user PIN (PinIncorrect); check "
        "FIRMSEAL_PKCS11_PIN or FIRMSEAL_PKCS11_PIN_FILE"
    )
    assert wrong_pin not in str(caught.value)
    assert softhsm.pin not in str(caught.value)


def test_wrong_pin_check_unreachable(softhsm: SoftHsm) -> None:
    status = Pkcs11Backend(softhsm.config(pin="0000-wrong")).check()
    assert status.reachable is False
    assert "rejected the user PIN" in status.detail


def test_missing_module(softhsm: SoftHsm, tmp_path: Path) -> None:
    config = Pkcs11Config(tmp_path / "absent.so", "firmseal-test", Secret(softhsm.pin))
    with pytest.raises(BackendError, match=r"absent\.so not found"):
        Pkcs11Backend(config).public_key_der("pkcs11:object=any")


def test_unloadable_module(softhsm: SoftHsm, tmp_path: Path) -> None:
    not_a_library = tmp_path / "broken.so"
    not_a_library.write_bytes(b"not an ELF file")
    config = Pkcs11Config(not_a_library, "firmseal-test", Secret(softhsm.pin))
    with pytest.raises(BackendError, match="cannot load PKCS#11 module"):
        Pkcs11Backend(config).key_state("pkcs11:object=any")


def test_unknown_token(softhsm: SoftHsm) -> None:
    backend = Pkcs11Backend(softhsm.config(token="no-such-token"))
    with pytest.raises(BackendError, match="'no-such-token' not found") as caught:
        backend.create_key(KeySpec.ECC_NIST_P256)
    assert "'firmseal-test'" in str(caught.value)


def test_unknown_key_label(backend: Pkcs11Backend) -> None:
    uri = "pkcs11:token=firmseal-test;object=no-such-key"
    with pytest.raises(NotFoundError, match="no private key matches"):
        backend.sign_digest(uri, bytes(32), SignatureScheme.ECDSA_SHA256)
    with pytest.raises(NotFoundError):
        backend.key_state(uri)
    with pytest.raises(NotFoundError):
        backend.public_key_der(uri)


@pytest.mark.parametrize(
    ("spec", "scheme", "message"),
    [
        (KeySpec.ECC_NIST_P256, SignatureScheme.RSA_PSS_SHA256, "is an EC key, but"),
        (KeySpec.RSA_2048, SignatureScheme.ECDSA_SHA256, "is an RSA key, but"),
        (KeySpec.ED25519, SignatureScheme.ECDSA_SHA256, "is an Edwards"),
        (KeySpec.ECC_NIST_P256, SignatureScheme.ED25519, "needs an Edwards"),
    ],
)
def test_key_type_not_fitting_scheme(
    backend: Pkcs11Backend,
    keys: dict[KeySpec, str],
    spec: KeySpec,
    scheme: SignatureScheme,
    message: str,
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        backend.sign_digest(keys[spec], bytes(scheme.digest_size), scheme)


def test_uri_for_other_token_rejected(backend: Pkcs11Backend) -> None:
    with pytest.raises(InvalidInputError, match="names token 'elsewhere'"):
        backend.key_state("pkcs11:token=elsewhere;object=key")


def test_uri_without_key_rejected(backend: Pkcs11Backend) -> None:
    with pytest.raises(InvalidInputError, match="names no key"):
        backend.key_state("pkcs11:token=firmseal-test")


@pytest.mark.parametrize(
    ("uri", "attribute"),
    [
        ("pkcs11:serial=0123456789abcdef;object=key", "serial"),
        ("pkcs11:manufacturer=SoftHSM%20project;object=key", "manufacturer"),
        ("pkcs11:model=SoftHSM%20v2;object=key", "model"),
        ("pkcs11:library-description=x;object=key", "library-description"),
        ("pkcs11:library-manufacturer=x;object=key", "library-manufacturer"),
        ("pkcs11:library-version=2.6;object=key", "library-version"),
        ("pkcs11:slot-id=0;object=key", "slot-id"),
        ("pkcs11:slot-description=x;object=key", "slot-description"),
        ("pkcs11:slot-manufacturer=x;object=key", "slot-manufacturer"),
        ("pkcs11:object=key;x-vendor=1", "x-vendor"),
        ("pkcs11:object=key?pin-source=file:/etc/pin", "pin-source"),
        ("pkcs11:object=key?module-path=/usr/lib/other.so", "module-path"),
        ("pkcs11:object=key?module-name=other", "module-name"),
    ],
)
def test_unsupported_uri_attribute_rejected(
    backend: Pkcs11Backend, uri: str, attribute: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        backend.key_state(uri)
    assert str(caught.value) == (
        f"key URI {uri!r} has unsupported attribute {attribute}; remove it. firmseal matches "
        "only token, object, id and type on the token named by FIRMSEAL_PKCS11_TOKEN, in the "
        "module named by FIRMSEAL_PKCS11_MODULE"
    )
    with pytest.raises(InvalidInputError, match=f"unsupported attribute {attribute};"):
        backend.adopt_key(uri)


def test_uri_for_public_object_rejected(backend: Pkcs11Backend) -> None:
    with pytest.raises(InvalidInputError, match="needs type=private"):
        backend.key_state("pkcs11:token=firmseal-test;object=key;type=public")


def test_adopt_by_label_and_id(backend: Pkcs11Backend, keys: dict[KeySpec, str]) -> None:
    parsed = parse_uri(keys[KeySpec.ECC_NIST_P384])
    by_label = backend.adopt_key(f"pkcs11:object={parsed.object}")
    by_id = backend.adopt_key("pkcs11:id=" + "".join(f"%{b:02x}" for b in parsed.id or b""))
    assert by_label.uri == keys[KeySpec.ECC_NIST_P384]
    assert by_id.uri == keys[KeySpec.ECC_NIST_P384]
    assert by_label.spec is KeySpec.ECC_NIST_P384
    assert by_label.public_key_der == backend.public_key_der(keys[KeySpec.ECC_NIST_P384])


def test_adopt_extractable_refused(softhsm: SoftHsm, backend: Pkcs11Backend) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _import_software_key(softhsm, private_key, "imported-extractable", extractable=True)
    with pytest.raises(InvalidInputError) as caught:
        backend.adopt_key("pkcs11:object=imported-extractable")
    assert str(caught.value) == (
        "the private key of PKCS#11 key pkcs11:object=imported-extractable may exist outside "
        "the token (CKA_EXTRACTABLE is true; CKA_SENSITIVE is false; CKA_NEVER_EXTRACTABLE is "
        "false, so it was imported or once extractable; CKA_ALWAYS_SENSITIVE is false, so it "
        "was imported or once readable); generate a new key on the token, or pass "
        "--allow-extractable to adopt it anyway"
    )


def test_adopt_imported_sensitive_key_refused(softhsm: SoftHsm, backend: Pkcs11Backend) -> None:
    # Imported as sensitive and non-extractable, as `softhsm2-util --import` stores keys: the
    # token still marks it as once outside (CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE false).
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _import_software_key(softhsm, private_key, "imported-sensitive", extractable=False)
    uri = "pkcs11:object=imported-sensitive"
    key_id = "".join(f"%{byte:02x}" for byte in b"imported-sensitive")
    attributes = _private_key_attributes(softhsm, f"pkcs11:id={key_id}")
    assert attributes[Attribute.SENSITIVE] is True
    assert attributes[Attribute.EXTRACTABLE] is False
    with pytest.raises(InvalidInputError) as caught:
        backend.adopt_key(uri)
    assert str(caught.value) == (
        f"the private key of PKCS#11 key {uri} may exist outside the token "
        "(CKA_NEVER_EXTRACTABLE is false, so it was imported or once extractable; "
        "CKA_ALWAYS_SENSITIVE is false, so it was imported or once readable); generate a new "
        "key on the token, or pass --allow-extractable to adopt it anyway"
    )
    adopted = backend.adopt_key(uri, allow_extractable=True)
    assert adopted.spec is KeySpec.RSA_2048
    assert len(adopted.warnings) == 1
    assert "CKA_NEVER_EXTRACTABLE is false" in adopted.warnings[0]


def test_adopt_generated_key_has_no_warning(
    backend: Pkcs11Backend, keys: dict[KeySpec, str]
) -> None:
    assert backend.adopt_key(keys[KeySpec.ECC_NIST_P256]).warnings == ()


def test_adopt_extractable_allowed_warns(
    softhsm: SoftHsm, backend: Pkcs11Backend, caplog: pytest.LogCaptureFixture
) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _import_software_key(softhsm, private_key, "imported-allowed", extractable=True)
    with caplog.at_level(logging.WARNING, logger="firmseal.kms.pkcs11"):
        adopted = backend.adopt_key("pkcs11:object=imported-allowed", allow_extractable=True)
    assert adopted.spec is KeySpec.RSA_2048
    assert (
        adopted.uri
        == "pkcs11:token=firmseal-test;object=imported-allowed;id="
        + "".join(f"%{b:02X}" for b in b"imported-allowed")
        + ";type=private"
    )
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "may exist outside the token" in warnings[0].getMessage()
    assert adopted.warnings == (
        "adopted PKCS#11 key pkcs11:object=imported-allowed although its private key may "
        "exist outside the "
        "token (CKA_EXTRACTABLE is true; CKA_SENSITIVE is false; CKA_NEVER_EXTRACTABLE is "
        "false, so it was imported or once extractable; CKA_ALWAYS_SENSITIVE is false, so it "
        "was imported or once readable)",
    )


def test_key_state_follows_sign_attribute(softhsm: SoftHsm, backend: Pkcs11Backend) -> None:
    uri = backend.create_key(KeySpec.ECC_NIST_P256).uri
    assert backend.key_state(uri) is KeyState.ENABLED
    with _own_session(softhsm) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=parse_uri(uri).id)
        assert key.key_type is KeyType.EC
        key[Attribute.SIGN] = False
    assert backend.key_state(uri) is KeyState.DISABLED


def test_check_reports_token(backend: Pkcs11Backend, keys: dict[KeySpec, str]) -> None:
    status = backend.check()
    assert status.backend == "pkcs11"
    assert status.reachable is True
    assert "'firmseal-test'" in status.detail
    assert "logged in" in status.detail


@_IGNORE_CANCEL_ERRORS
def test_lost_session_retried_once(
    softhsm: SoftHsm,
    backend: Pkcs11Backend,
    keys: dict[KeySpec, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    uri = keys[KeySpec.ECC_NIST_P256]
    scheme = SignatureScheme.ECDSA_SHA256
    backend.sign_digest(uri, bytes(32), scheme)
    pool = pool_for(softhsm.config())
    for session in list(pool._idle):  # close the pooled sessions behind the pool's back
        session.close()

    with caplog.at_level(logging.WARNING, logger="firmseal.kms.pkcs11"):
        signature = backend.sign_digest(uri, digest_for(scheme, b"after loss"), scheme)

    device_verify(
        backend.public_key_der(uri), signature, digest_for(scheme, b"after loss"), scheme
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "retrying once" in warnings[0]
    assert "SessionHandleInvalid" in warnings[0]


@_IGNORE_CANCEL_ERRORS
def test_lost_session_twice_raises(
    softhsm: SoftHsm,
    backend: Pkcs11Backend,
    keys: dict[KeySpec, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = pool_for(softhsm.config())
    original = pool._checkout
    attempts: list[int] = []

    def checkout_closed() -> tuple[pkcs11.Session, int]:
        session, generation = original()
        session.close()
        attempts.append(generation)
        return session, generation

    monkeypatch.setattr(pool, "_checkout", checkout_closed)
    with pytest.raises(BackendError, match="and again after reopening the session"):
        backend.sign_digest(keys[KeySpec.ECC_NIST_P256], bytes(32), SignatureScheme.ECDSA_SHA256)
    assert len(attempts) == 2


@_IGNORE_CANCEL_ERRORS
def test_token_gone_retried_then_fails(softhsm: SoftHsm, caplog: pytest.LogCaptureFixture) -> None:
    backend = Pkcs11Backend(softhsm.config(token=SPARE_TOKEN))
    uri = backend.create_key(KeySpec.ECC_NIST_P256).uri
    backend.sign_digest(uri, bytes(32), SignatureScheme.ECDSA_SHA256)

    # Remove the token and restart the module, as when an HSM is unplugged or its
    # client daemon restarts: every open session handle becomes invalid.
    softhsm.delete_token(SPARE_TOKEN)
    pkcs11.lib(str(softhsm.module)).reinitialize()

    with (
        caplog.at_level(logging.WARNING, logger="firmseal.kms.pkcs11"),
        pytest.raises(BackendError, match=f"'{SPARE_TOKEN}' not found"),
    ):
        backend.sign_digest(uri, bytes(32), SignatureScheme.ECDSA_SHA256)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "retrying once" in warnings[0]
    softhsm.init_token(SPARE_TOKEN)


def test_pin_absent_from_repr(softhsm: SoftHsm) -> None:
    config = softhsm.config()
    assert softhsm.pin not in repr(config)
    assert softhsm.pin not in str(config.pin)


def test_pool_rejects_second_pin(softhsm: SoftHsm, backend: Pkcs11Backend) -> None:
    with pytest.raises(InvalidInputError, match="already logged in with another PIN"):
        Pkcs11Backend(softhsm.config(pin="another-pin"))


def test_ed25519_signature_matches_reference(
    backend: Pkcs11Backend, keys: dict[KeySpec, str]
) -> None:
    """Ed25519 is deterministic, so the token's signature must verify as a plain message."""
    uri = keys[KeySpec.ED25519]
    message = bytes(range(32))
    signature = backend.sign_digest(uri, message, SignatureScheme.ED25519)
    public_key = serialization.load_der_public_key(backend.public_key_der(uri))
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    public_key.verify(signature, message)
    assert backend.sign_digest(uri, message, SignatureScheme.ED25519) == signature


class _Slot:
    """A slot that offers only the mechanisms it is given."""

    def __init__(self, mechanisms: set[pkcs11.Mechanism]) -> None:
        self._mechanisms = mechanisms

    def get_mechanisms(self) -> set[pkcs11.Mechanism]:
        return self._mechanisms


def test_missing_generation_mechanism(backend: Pkcs11Backend) -> None:
    """A token without CKM_EC_EDWARDS_KEY_PAIR_GEN cannot make Ed25519 keys."""
    session = SimpleNamespace(token=SimpleNamespace(slot=_Slot({pkcs11.Mechanism.ECDSA})))
    with pytest.raises(InvalidInputError, match="cannot generate ED25519 keys"):
        backend._require_mechanism(
            session,  # type: ignore[arg-type]
            pkcs11.Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
            KeySpec.ED25519,
        )


class _CarelessKey:
    """A key whose token ignored CKA_SENSITIVE; records whether it was destroyed."""

    def __init__(self) -> None:
        self.destroyed = False

    def get_attributes(self, names: list[Attribute]) -> dict[Attribute, bool]:
        return {Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: False}

    def destroy(self) -> None:
        self.destroyed = True


def test_unprotected_new_key_destroyed(backend: Pkcs11Backend) -> None:
    key = _CarelessKey()
    with pytest.raises(BackendError, match="the key was destroyed"):
        backend._confirm_protected(key, KeySpec.ECC_NIST_P256)  # type: ignore[arg-type]
    assert key.destroyed is True
