"""External signing of MCUboot images: the digest leaves firmseal, the signature comes back.

The key is named by a signing profile (its platform, its key's public half and its
parameters) or given directly as a platform and a public key, for a key that firmseal
does not hold. Neither step records a signing job, because firmseal's key store signs
nothing here.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from firmseal.device.mcuboot_layout import McubootAlgorithm, with_article
from firmseal.errors import ConflictError, InvalidInputError
from firmseal.formats import FORMATS
from firmseal.formats.base import SignContext, SignResult
from firmseal.formats.mcuboot import McubootFormat
from firmseal.formats.mcuboot_external import attach_signature, export_digest
from firmseal.formats.platforms import SigningPlatform, get_platform
from firmseal.kms import software
from firmseal.service.local_images import open_image_input
from firmseal.service.profiles import ACTIVE, ProfileService
from firmseal.service.workspace import Workspace

log = logging.getLogger(__name__)

MAX_SIGNATURE_FILE = 64 * 1024
_BASE64_TEXT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n")


@dataclass(frozen=True)
class SigningTarget:
    """The platform, public key and signing parameters an external signature is made for."""

    platform: SigningPlatform
    public_key_der: bytes
    params: dict[str, str]

    @property
    def algorithm(self) -> McubootAlgorithm:
        image_format = FORMATS[self.platform.format_name]
        if not isinstance(image_format, McubootFormat):
            raise InvalidInputError(
                f"platform {self.platform.platform_id} is not an MCUboot platform; external "
                "signing takes MCUboot-ECDSA-P256, -P384, -Ed25519, -RSA-2048-PSS or "
                "-RSA-3072-PSS"
            )
        return image_format.algorithm


def target_from_profile(
    workspace: Workspace, profile_name: str, overrides: dict[str, str]
) -> SigningTarget:
    """Resolve an Active profile to its platform, its key's public key and its parameters."""
    view = ProfileService(workspace).get(profile_name)
    if view.profile.status != ACTIVE:
        raise ConflictError(
            f"signing profile {profile_name!r} is {view.profile.status}; only Active profiles sign"
        )
    platform = get_platform(view.profile.platform_id)
    target = SigningTarget(platform, view.key.public_key_der, {**view.parameters, **overrides})
    _ = target.algorithm
    return target


def target_from_public_key(
    platform_id: str, public_key_pem: bytes, params: dict[str, str], source: str
) -> SigningTarget:
    """Build a target for a key firmseal does not hold, checking it fits the platform."""
    platform = get_platform(platform_id)
    try:
        public_key = serialization.load_pem_public_key(public_key_pem)
        spec = software.spec_of_public_key(public_key)
    except ValueError as exc:
        raise InvalidInputError(
            f"{source} is not a PEM public key that firmseal supports ({exc}); give the "
            "public half of the external signing key as PEM"
        ) from None
    if spec not in platform.key_specs:
        allowed = ", ".join(sorted(platform.key_specs))
        raise InvalidInputError(
            f"{source} is {with_article(spec)} key, but platform {platform_id} signs with "
            f"{allowed}"
        )
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    target = SigningTarget(platform, der, params)
    _ = target.algorithm
    return target


def image_digest(target: SigningTarget, source: Path, out_dir: Path) -> bytes:
    """Return the digest an external signer must sign for `source` under `target`."""
    with open_image_input(source, target.platform.max_size_bytes) as image:
        context = SignContext(out_dir, target.params, "external")
        digest = export_digest(image, target.public_key_der, target.algorithm, context)
    log.info("exported the %s digest of %s for external signing", target.algorithm.name, source)
    return digest


def decode_signature(data: bytes, source: str) -> bytes:
    """Return a signature file's bytes, decoding base64 text as imgtool's --sig-out writes it.

    Binary signatures are taken as they are. A DER ECDSA signature always contains 0x02,
    which base64 text never does, and a random signature of 64 bytes or more consists only
    of base64 characters with a chance below 1e-37, so the two forms cannot be confused.
    """
    if not data:
        raise InvalidInputError(f"signature file {source} is empty")
    if set(data) <= _BASE64_TEXT:
        try:
            return base64.b64decode(b"".join(data.split()), validate=True)
        except binascii.Error:
            raise InvalidInputError(
                f"signature file {source} looks like base64 text but does not decode; give "
                "the signature as DER, raw bytes, or base64"
            ) from None
    return data


def attach(target: SigningTarget, source: Path, signature: bytes, out_dir: Path) -> SignResult:
    """Write the signed image for `source` with a signature made elsewhere."""
    if not out_dir.is_dir():
        raise InvalidInputError(f"output folder {out_dir} does not exist")
    with open_image_input(source, target.platform.max_size_bytes) as image:
        context = SignContext(out_dir, target.params, "external")
        result = attach_signature(
            image, target.public_key_der, signature, target.algorithm, context
        )
    log.info("attached an external signature to %s as %s", source, result.files[0])
    return result
