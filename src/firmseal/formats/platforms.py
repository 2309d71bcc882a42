"""The signing platforms firmseal offers, with the fields AWS Signer returns for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmseal.errors import NotFoundError
from firmseal.kms.base import KeySpec, SignatureScheme

MIB = 1024 * 1024


@dataclass(frozen=True)
class SigningPlatform:
    """A named recipe: allowed keys, hash, signature scheme, output format and size limit."""

    platform_id: str
    display_name: str
    partner: str
    target: str
    encryption_algorithm: str
    hash_algorithm: str
    image_format: str
    max_size_in_mb: int
    key_specs: frozenset[KeySpec]
    scheme: SignatureScheme
    format_name: str
    revocation_supported: bool = False
    category: str = "AWS"
    required_params: tuple[str, ...] = ()

    @property
    def max_size_bytes(self) -> int:
        return self.max_size_in_mb * MIB

    def to_aws(self) -> dict[str, Any]:
        """Return the platform as AWS Signer's GetSigningPlatform returns it."""
        return {
            "platformId": self.platform_id,
            "displayName": self.display_name,
            "partner": self.partner,
            "target": self.target,
            "category": self.category,
            "signingConfiguration": {
                "encryptionAlgorithmOptions": {
                    "allowedValues": [self.encryption_algorithm],
                    "defaultValue": self.encryption_algorithm,
                },
                "hashAlgorithmOptions": {
                    "allowedValues": [self.hash_algorithm],
                    "defaultValue": self.hash_algorithm,
                },
            },
            "signingImageFormat": {
                "supportedFormats": [self.image_format],
                "defaultFormat": self.image_format,
            },
            "maxSizeInMB": self.max_size_in_mb,
            "revocationSupported": self.revocation_supported,
        }


FREERTOS_DEFAULT = SigningPlatform(
    platform_id="AmazonFreeRTOS-Default",
    display_name="Amazon FreeRTOS",
    partner="AmazonFreeRTOS",
    target="SHA256-ECDSA",
    encryption_algorithm="ECDSA",
    hash_algorithm="SHA256",
    image_format="JSONEmbedded",
    max_size_in_mb=16,
    key_specs=frozenset({KeySpec.ECC_NIST_P256}),
    scheme=SignatureScheme.ECDSA_SHA256,
    format_name="freertos-ota",
    required_params=("certname",),
)

IOT_DEVICE_MANAGEMENT = SigningPlatform(
    platform_id="AWSIoTDeviceManagement-SHA256-ECDSA",
    display_name="AWS IoT Device Management SHA256-ECDSA",
    partner="AWSIoTDeviceManagement",
    target="SHA256-ECDSA",
    encryption_algorithm="ECDSA",
    hash_algorithm="SHA256",
    image_format="JSONDetached",
    max_size_in_mb=2048,
    key_specs=frozenset({KeySpec.ECC_NIST_P256}),
    scheme=SignatureScheme.ECDSA_SHA256,
    format_name="detached",
)

# MCUboot slots sit in a microcontroller's internal or external flash, where a few MiB is
# typical; 32 MiB leaves room for large external-flash slots. The header's image size field
# is 32 bits, so the format itself allows up to 4 GiB.
MCUBOOT_MAX_SIZE_IN_MB = 32


def _mcuboot(
    suffix: str,
    display: str,
    *,
    target: str,
    encryption: str,
    hash_name: str,
    spec: KeySpec,
    scheme: SignatureScheme,
) -> SigningPlatform:
    return SigningPlatform(
        platform_id=f"MCUboot-{suffix}",
        display_name=f"MCUboot image signed with {display}",
        partner="MCUboot",
        target=target,
        encryption_algorithm=encryption,
        hash_algorithm=hash_name,
        image_format="MCUbootImage",
        max_size_in_mb=MCUBOOT_MAX_SIZE_IN_MB,
        key_specs=frozenset({spec}),
        scheme=scheme,
        format_name=f"mcuboot-{suffix.lower()}",
        category="MCUboot",
    )


MCUBOOT_PLATFORMS = (
    _mcuboot(
        "ECDSA-P256",
        "ECDSA P-256",
        target="SHA256-ECDSA",
        encryption="ECDSA",
        hash_name="SHA256",
        spec=KeySpec.ECC_NIST_P256,
        scheme=SignatureScheme.ECDSA_SHA256,
    ),
    _mcuboot(
        "ECDSA-P384",
        "ECDSA P-384",
        target="SHA384-ECDSA",
        encryption="ECDSA",
        hash_name="SHA384",
        spec=KeySpec.ECC_NIST_P384,
        scheme=SignatureScheme.ECDSA_SHA384,
    ),
    _mcuboot(
        "Ed25519",
        "Ed25519 over the SHA-256 digest",
        target="SHA256-ED25519",
        encryption="ED25519",
        hash_name="SHA256",
        spec=KeySpec.ED25519,
        scheme=SignatureScheme.ED25519,
    ),
    _mcuboot(
        "RSA-2048-PSS",
        "RSA-2048 PSS",
        target="SHA256-RSA-PSS",
        encryption="RSA",
        hash_name="SHA256",
        spec=KeySpec.RSA_2048,
        scheme=SignatureScheme.RSA_PSS_SHA256,
    ),
    _mcuboot(
        "RSA-3072-PSS",
        "RSA-3072 PSS",
        target="SHA256-RSA-PSS",
        encryption="RSA",
        hash_name="SHA256",
        spec=KeySpec.RSA_3072,
        scheme=SignatureScheme.RSA_PSS_SHA256,
    ),
)

PLATFORMS: dict[str, SigningPlatform] = {
    platform.platform_id: platform
    for platform in (FREERTOS_DEFAULT, IOT_DEVICE_MANAGEMENT, *MCUBOOT_PLATFORMS)
}


def get_platform(platform_id: str) -> SigningPlatform:
    try:
        return PLATFORMS[platform_id]
    except KeyError:
        known = ", ".join(sorted(PLATFORMS))
        raise NotFoundError(
            f"signing platform {platform_id!r} not found; known platforms: {known}"
        ) from None
