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

PLATFORMS: dict[str, SigningPlatform] = {
    platform.platform_id: platform for platform in (FREERTOS_DEFAULT, IOT_DEVICE_MANAGEMENT)
}


def get_platform(platform_id: str) -> SigningPlatform:
    try:
        return PLATFORMS[platform_id]
    except KeyError:
        known = ", ".join(sorted(PLATFORMS))
        raise NotFoundError(
            f"signing platform {platform_id!r} not found; known platforms: {known}"
        ) from None
