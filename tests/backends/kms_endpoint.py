"""Local KMS-compatible endpoints for tests: moto in server mode, and a scripted error server.

moto 5.2 in server mode ignores the Sign and Verify MessageType parameter and always hashes
the message again, so a client that correctly sends MessageType=DIGEST gets a signature over
the hash of its digest. `digest_aware_moto` starts moto's server in a thread on 127.0.0.1 and
wraps moto's key classes so that DIGEST means "already hashed", as AWS KMS defines it. It also
uses a PSS salt as long as the digest, which is what AWS KMS uses (moto uses the maximum).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from moto.kms import responses as kms_responses
from moto.kms import utils as kms_utils
from moto.kms.exceptions import ValidationException
from moto.server import ThreadedMotoServer

_request_state = threading.local()
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


def _hash_for(algorithm: str) -> hashes.HashAlgorithm:
    return _HASHES[algorithm.rsplit("_", 1)[-1]]()


def _is_digest() -> bool:
    return getattr(_request_state, "message_type", None) == "DIGEST"


def _prehashed(message: bytes, algorithm: str) -> utils.Prehashed:
    hash_algorithm = _hash_for(algorithm)
    if len(message) != hash_algorithm.digest_size:
        raise ValidationException(
            f"Digest is {len(message)} bytes, but {algorithm} needs {hash_algorithm.digest_size}"
        )
    return utils.Prehashed(hash_algorithm)


def _rsa_padding(algorithm: str) -> padding.AsymmetricPadding:
    if "PSS" in algorithm:
        hash_algorithm = _hash_for(algorithm)
        return padding.PSS(padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
    return padding.PKCS1v15()


def _wrap_response(original: Callable[[Any], str]) -> Callable[[Any], str]:
    def handler(self: Any) -> str:
        _request_state.message_type = self._get_param("MessageType")
        try:
            return original(self)
        finally:
            _request_state.message_type = None

    return handler


def _patch_moto(patch: pytest.MonkeyPatch) -> None:
    rsa_sign = kms_utils.RSAPrivateKey.sign
    rsa_verify = kms_utils.RSAPrivateKey.verify
    ec_sign = kms_utils.ECDSAPrivateKey.sign
    ec_verify = kms_utils.ECDSAPrivateKey.verify

    def rsa_sign_digest(self: Any, message: bytes, algorithm: str) -> bytes:
        if not _is_digest():
            return rsa_sign(self, message, algorithm)
        kms_utils.validate_signing_algorithm(
            algorithm, kms_utils.SigningAlgorithm.rsa_signing_algorithms()
        )
        prehashed = _prehashed(message, algorithm)
        return self.private_key.sign(message, _rsa_padding(algorithm), prehashed)  # type: ignore[no-any-return]

    def rsa_verify_digest(self: Any, message: bytes, signature: bytes, algorithm: str) -> bool:
        if not _is_digest():
            return rsa_verify(self, message, signature, algorithm)
        try:
            self.private_key.public_key().verify(
                signature, message, _rsa_padding(algorithm), _prehashed(message, algorithm)
            )
        except Exception:
            return False
        return True

    def ec_sign_digest(self: Any, message: bytes, algorithm: str) -> bytes:
        if not _is_digest():
            return ec_sign(self, message, algorithm)
        kms_utils.validate_signing_algorithm(algorithm, self.valid_signing_algorithms)
        return self.private_key.sign(message, ec.ECDSA(_prehashed(message, algorithm)))  # type: ignore[no-any-return]

    def ec_verify_digest(self: Any, message: bytes, signature: bytes, algorithm: str) -> bool:
        if not _is_digest():
            return ec_verify(self, message, signature, algorithm)
        try:
            self.private_key.public_key().verify(
                signature, message, ec.ECDSA(_prehashed(message, algorithm))
            )
        except Exception:
            return False
        return True

    patch.setattr(kms_utils.RSAPrivateKey, "sign", rsa_sign_digest)
    patch.setattr(kms_utils.RSAPrivateKey, "verify", rsa_verify_digest)
    patch.setattr(kms_utils.ECDSAPrivateKey, "sign", ec_sign_digest)
    patch.setattr(kms_utils.ECDSAPrivateKey, "verify", ec_verify_digest)
    patch.setattr(
        kms_responses.KmsResponse, "sign", _wrap_response(kms_responses.KmsResponse.sign)
    )
    patch.setattr(
        kms_responses.KmsResponse, "verify", _wrap_response(kms_responses.KmsResponse.verify)
    )


@contextmanager
def digest_aware_moto() -> Iterator[str]:
    """Run moto's server on a random loopback port; yield its endpoint URL."""
    with pytest.MonkeyPatch.context() as patch:
        _patch_moto(patch)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@dataclass
class ScriptedKms:
    """A loopback HTTP server that responds to KMS requests from a list of canned replies.

    Each reply is (HTTP status, JSON body). Once the list runs out, the last reply repeats.
    `requests` records each request's X-Amz-Target operation, such as TrentService.Sign.
    """

    replies: list[tuple[int, dict[str, Any]]]
    requests: list[str] = field(default_factory=list)
    url: str = ""


def kms_error(code: str, message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": code, "message": message}


@contextmanager
def scripted_kms(replies: list[tuple[int, dict[str, Any]]]) -> Iterator[ScriptedKms]:
    """Serve `replies` on a random loopback port for the duration of the block."""
    script = ScriptedKms(list(replies))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(length)
            script.requests.append(self.headers.get("X-Amz-Target", ""))
            index = min(len(script.requests), len(script.replies)) - 1
            status, body = script.replies[index]
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(payload)))
            if status >= 400:
                self.send_header("x-amzn-ErrorType", str(body.get("__type", "")))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
