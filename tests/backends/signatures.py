"""Independent checks of a signature: the openssl command line and firmseal's device verifier."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from firmseal.device import keys as device_keys
from firmseal.kms.base import SignatureScheme
from firmseal.kms.software import hash_of

DEVICE_ALGORITHMS = {
    SignatureScheme.ECDSA_SHA256: device_keys.ECDSA_SHA256,
    SignatureScheme.ECDSA_SHA384: device_keys.ECDSA_SHA384,
    SignatureScheme.RSA_PSS_SHA256: device_keys.RSA_PSS_SHA256,
    SignatureScheme.RSA_PSS_SHA384: device_keys.RSA_PSS_SHA384,
    SignatureScheme.ED25519: device_keys.ED25519,
}


def digest_for(scheme: SignatureScheme, message: bytes) -> bytes:
    return hashlib.new(hash_of(scheme).name, message).digest()


def openssl_verify(
    folder: Path, public_key_der: bytes, signature: bytes, digest: bytes, scheme: SignatureScheme
) -> subprocess.CompletedProcess[str]:
    """Run `openssl pkeyutl -verify` on the signature; return the finished process."""
    public_key = serialization.load_der_public_key(public_key_der)
    pem = folder / "public.pem"
    pem.write_bytes(
        public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (folder / "data.bin").write_bytes(digest)
    (folder / "signature.bin").write_bytes(signature)
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pem)]
    command += ["-in", str(folder / "data.bin"), "-sigfile", str(folder / "signature.bin")]
    command += _openssl_options(scheme)
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _openssl_options(scheme: SignatureScheme) -> list[str]:
    if scheme is SignatureScheme.ED25519:
        return ["-rawin"]
    md = hash_of(scheme).name
    options = ["-pkeyopt", f"digest:{md}"]
    if scheme in (SignatureScheme.RSA_PSS_SHA256, SignatureScheme.RSA_PSS_SHA384):
        options += ["-pkeyopt", "rsa_padding_mode:pss"]
        options += ["-pkeyopt", f"rsa_pss_saltlen:{scheme.digest_size}"]
        options += ["-pkeyopt", f"rsa_mgf1_md:{md}"]
    elif scheme in (SignatureScheme.RSA_PKCS1_SHA256, SignatureScheme.RSA_PKCS1_SHA384):
        options += ["-pkeyopt", "rsa_padding_mode:pkcs1"]
    return options


def device_verify(
    public_key_der: bytes, signature: bytes, digest: bytes, scheme: SignatureScheme
) -> None:
    """Check with firmseal.device.keys.verify_digest, or `cryptography` for PKCS#1 v1.5.

    The device verifier has no PKCS#1 v1.5 mode because devices check firmware, not X.509
    certificates, so those schemes are checked with `cryptography` directly.
    """
    public_key = serialization.load_der_public_key(public_key_der)
    if scheme in DEVICE_ALGORITHMS:
        device_keys.verify_digest(public_key, signature, digest, DEVICE_ALGORITHMS[scheme])
        return
    assert isinstance(public_key, rsa.RSAPublicKey)
    prehashed = utils.Prehashed(hash_of(scheme))
    public_key.verify(signature, digest, padding.PKCS1v15(), prehashed)
