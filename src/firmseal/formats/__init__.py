"""Byte layouts of signed artifacts. Formats stream their input and never see a private key."""

from firmseal.formats.base import ImageFormat
from firmseal.formats.detached import DetachedFormat
from firmseal.formats.freertos import FreeRtosOtaFormat

FORMATS: dict[str, ImageFormat] = {
    "detached": DetachedFormat(),
    "freertos-ota": FreeRtosOtaFormat(),
}
