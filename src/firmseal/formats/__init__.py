"""Byte layouts of signed artifacts. Formats stream their input and never see a private key."""

from firmseal.device.mcuboot_layout import McubootAlgorithm
from firmseal.formats.base import ImageFormat
from firmseal.formats.detached import DetachedFormat
from firmseal.formats.freertos import FreeRtosOtaFormat
from firmseal.formats.mcuboot import McubootFormat

FORMATS: dict[str, ImageFormat] = {
    "detached": DetachedFormat(),
    "freertos-ota": FreeRtosOtaFormat(),
    "mcuboot-ecdsa-p256": McubootFormat(McubootAlgorithm.ECDSA_P256),
    "mcuboot-ecdsa-p384": McubootFormat(McubootAlgorithm.ECDSA_P384),
    "mcuboot-ed25519": McubootFormat(McubootAlgorithm.ED25519),
    "mcuboot-rsa-2048-pss": McubootFormat(McubootAlgorithm.RSA_2048),
    "mcuboot-rsa-3072-pss": McubootFormat(McubootAlgorithm.RSA_3072),
}
