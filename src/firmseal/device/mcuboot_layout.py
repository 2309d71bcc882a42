"""Byte layout of an MCUboot image, shared by the signer and the device verifier.

An image is a 32-byte header, optional header padding up to `header_size`, the payload,
a protected TLV area (covered by the image hash) and an unprotected TLV area (the hash,
the key or its hash, and the signature). The layout is the one imgtool 2.x writes
(`imgtool/image.py`). Every reader here checks a length before it unpacks or slices.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from firmseal.device.errors import MalformedImageError, UnsupportedKeyError

Endian = Literal["little", "big"]

IMAGE_MAGIC = 0x96F3B83D
HEADER_SIZE = 32
TLV_INFO_MAGIC = 0x6907
TLV_PROTECTED_INFO_MAGIC = 0x6908
TLV_INFO_SIZE = 4
TLV_HEADER_SIZE = 4
# The TLV area sizes are 16-bit fields, so neither area can exceed this.
MAX_TLV_AREA_SIZE = 0xFFFF
# Types from this value up to VENDOR_TLV_MAX are free for vendors (imgtool --custom-tlv).
VENDOR_TLV_MIN = 0x00A0
VENDOR_TLV_MAX = 0xFFFE

FLAG_RAM_LOAD = 0x00000020

_HEADER_FORMAT = "IIHHIIBBHII"
# Letters whose spoken name starts with a vowel sound (A, E, F as "ef", R as "ar" ...).
_VOWEL_SOUND_LETTERS = frozenset("AEFHILMNORSX")
_STRUCT_PREFIX: dict[str, str] = {"little": "<", "big": ">"}


class Tlv(enum.IntEnum):
    """TLV type numbers, as imgtool 2.x defines them, that firmseal writes or recognises."""

    KEYHASH = 0x01
    PUBKEY = 0x02
    SHA256 = 0x10
    SHA384 = 0x11
    SHA512 = 0x12
    RSA2048_PSS = 0x20
    ECDSA_SIG = 0x22
    RSA3072_PSS = 0x23
    ED25519 = 0x24
    SIG_PURE = 0x25
    ENC_RSA2048 = 0x30
    ENC_KW = 0x31
    ENC_EC256 = 0x32
    ENC_X25519 = 0x33
    ENC_X25519_SHA512 = 0x34
    DEPENDENCY = 0x40
    SEC_CNT = 0x50
    BOOT_RECORD = 0x60
    DECOMP_SIZE = 0x70
    DECOMP_SHA = 0x71
    DECOMP_SIGNATURE = 0x72
    COMP_DEC_SIZE = 0x73
    UUID_VID = 0x74
    UUID_CID = 0x75


# TLVs that must sit in the protected area because the image hash has to cover them.
PROTECTED_TLVS = frozenset(
    {Tlv.DEPENDENCY, Tlv.SEC_CNT, Tlv.BOOT_RECORD, Tlv.UUID_VID, Tlv.UUID_CID}
)
# TLVs that belong in the unprotected area, because they are computed over the hashed region.
UNPROTECTED_TLVS = frozenset(
    {
        Tlv.KEYHASH,
        Tlv.PUBKEY,
        Tlv.SHA256,
        Tlv.SHA384,
        Tlv.SHA512,
        Tlv.RSA2048_PSS,
        Tlv.ECDSA_SIG,
        Tlv.RSA3072_PSS,
        Tlv.ED25519,
    }
)
# Recognised but not supported: encrypted, compressed and pure-signature images.
UNSUPPORTED_TLVS = frozenset(Tlv) - PROTECTED_TLVS - UNPROTECTED_TLVS
_STANDARD_TYPES = frozenset(int(t) for t in Tlv)


def tlv_name(tlv_type: int) -> str:
    if tlv_type in _STANDARD_TYPES:
        return f"0x{tlv_type:02x} ({Tlv(tlv_type).name})"
    return f"0x{tlv_type:04x}"


class McubootAlgorithm(enum.Enum):
    """A signature type MCUboot compiles in, with the TLVs and hash it implies.

    Values: (hash name, hash TLV, signature TLV). RSA and Ed25519 images use SHA-256, as
    imgtool 2.x chooses by default; Ed25519 signs the SHA-256 digest as its message.
    """

    ECDSA_P256 = ("sha256", Tlv.SHA256, Tlv.ECDSA_SIG)
    ECDSA_P384 = ("sha384", Tlv.SHA384, Tlv.ECDSA_SIG)
    ED25519 = ("sha256", Tlv.SHA256, Tlv.ED25519)
    RSA_2048 = ("sha256", Tlv.SHA256, Tlv.RSA2048_PSS)
    RSA_3072 = ("sha256", Tlv.SHA256, Tlv.RSA3072_PSS)

    @property
    def hash_name(self) -> str:
        return self.value[0]

    @property
    def hash_tlv(self) -> Tlv:
        return self.value[1]

    @property
    def signature_tlv(self) -> Tlv:
        return self.value[2]

    @property
    def digest_size(self) -> int:
        return 48 if self.hash_name == "sha384" else 32


def algorithm_of_key(public_key: PublicKeyTypes) -> McubootAlgorithm:
    """Return the MCUboot signature type of a public key, or raise UnsupportedKeyError."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if isinstance(public_key.curve, ec.SECP256R1):
            return McubootAlgorithm.ECDSA_P256
        if isinstance(public_key.curve, ec.SECP384R1):
            return McubootAlgorithm.ECDSA_P384
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        return McubootAlgorithm.ED25519
    elif isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size in (2048, 3072):
        if public_key.key_size == 2048:
            return McubootAlgorithm.RSA_2048
        return McubootAlgorithm.RSA_3072
    raise UnsupportedKeyError(
        f"MCUboot cannot use {with_article(describe_key(public_key))}; expected ECDSA P-256 "
        "or P-384, Ed25519, or RSA 2048 or 3072"
    )


def describe_key(public_key: PublicKeyTypes) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"ECDSA {public_key.curve.name} key"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}-bit key"
    return type(public_key).__name__.removeprefix("_").removesuffix("PublicKey") + " key"


def with_article(phrase: str) -> str:
    """Prefix "a" or "an" to a phrase that starts with a key type such as ECDSA or RSA.

    Key type names are read letter by letter (or as "Ed"), so the article follows the sound
    of the first letter's name: "an RSA", "an Ed25519", "an X25519", but "a DSA".
    """
    return f"an {phrase}" if phrase[:1].upper() in _VOWEL_SOUND_LETTERS else f"a {phrase}"


def key_bytes(public_key: PublicKeyTypes) -> bytes:
    """Return the key encoding MCUboot embeds and hashes for KEYHASH.

    RSA keys are encoded as the PKCS#1 RSAPublicKey DER and every other type as the DER
    SubjectPublicKeyInfo, as imgtool 2.x embeds and hashes them.
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True, order=True)
class ImageVersion:
    """The semantic version in the header: major (8 bits), minor (8), revision (16), build (32)."""

    major: int
    minor: int
    revision: int
    build: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.revision}+{self.build}"

    def pack(self, endian: Endian) -> bytes:
        prefix = _STRUCT_PREFIX[endian]
        return struct.pack(prefix + "BBHI", self.major, self.minor, self.revision, self.build)


@dataclass(frozen=True)
class ImageHeader:
    """The 32-byte image header, field by field."""

    load_address: int
    header_size: int
    protected_tlv_size: int
    image_size: int
    flags: int
    version: ImageVersion

    def pack(self, endian: Endian) -> bytes:
        v = self.version
        return struct.pack(
            _STRUCT_PREFIX[endian] + _HEADER_FORMAT,
            IMAGE_MAGIC,
            self.load_address,
            self.header_size,
            self.protected_tlv_size,
            self.image_size,
            self.flags,
            v.major,
            v.minor,
            v.revision,
            v.build,
            0,
        )


def parse_header_unverified(data: bytes, endian: Endian, source: str) -> ImageHeader:
    """Parse the first 32 bytes of an image and check its magic and header size.

    Nothing in the header is authenticated yet: the signature covers it only later.
    """
    if len(data) < HEADER_SIZE:
        raise MalformedImageError(
            f"{source} is truncated: {len(data)} bytes, shorter than the {HEADER_SIZE}-byte "
            "MCUboot image header"
        )
    fields = struct.unpack(_STRUCT_PREFIX[endian] + _HEADER_FORMAT, data[:HEADER_SIZE])
    magic = fields[0]
    if magic != IMAGE_MAGIC:
        other: Endian = "big" if endian == "little" else "little"
        hint = ""
        if struct.unpack(_STRUCT_PREFIX[other] + "I", data[:4])[0] == IMAGE_MAGIC:
            hint = f"; the image is {other}-endian, so verify it with endian={other}"
        raise MalformedImageError(
            f"{source} has magic 0x{magic:08x}, expected 0x{IMAGE_MAGIC:08x}; it is not an "
            f"MCUboot image{hint}"
        )
    header = ImageHeader(
        load_address=fields[1],
        header_size=fields[2],
        protected_tlv_size=fields[3],
        image_size=fields[4],
        flags=fields[5],
        version=ImageVersion(fields[6], fields[7], fields[8], fields[9]),
    )
    if header.header_size < HEADER_SIZE:
        raise MalformedImageError(
            f"{source} records a header size of {header.header_size} bytes, less than the "
            f"{HEADER_SIZE}-byte header itself"
        )
    return header


def pack_tlv_info(magic: int, total_size: int, endian: Endian) -> bytes:
    return struct.pack(_STRUCT_PREFIX[endian] + "HH", magic, total_size)


def unpack_tlv_info(data: bytes, endian: Endian, source: str) -> tuple[int, int]:
    """Return (magic, total size) of a TLV info header. The size includes the info itself."""
    if len(data) < TLV_INFO_SIZE:
        raise MalformedImageError(
            f"{source} is truncated: the TLV info header needs {TLV_INFO_SIZE} bytes, "
            f"{len(data)} are left"
        )
    magic, total = struct.unpack(_STRUCT_PREFIX[endian] + "HH", data[:TLV_INFO_SIZE])
    return int(magic), int(total)


def pack_tlv(tlv_type: int, value: bytes, endian: Endian) -> bytes:
    """Encode one TLV as imgtool 2.x does.

    MCUboot's own types are written as a type byte and a zero byte, then the length; vendor
    types as a 16-bit type. Both read back as the same 16-bit type in little-endian images.
    """
    prefix = _STRUCT_PREFIX[endian]
    if tlv_type in _STANDARD_TYPES:
        return struct.pack(prefix + "BBH", tlv_type, 0, len(value)) + value
    return struct.pack(prefix + "HH", tlv_type, len(value)) + value


def _decode_type(raw: bytes, endian: Endian) -> int:
    if endian == "little":
        return int.from_bytes(raw, "little")
    # In big-endian images imgtool writes MCUboot's types as a type byte then a zero byte.
    # NOTE: MCUboot may read the type as a native 16-bit field, and then such images fail
    # on a big-endian device. This reader follows imgtool 2.x, which is unverified there.
    if raw[1] == 0 and raw[0] in _STANDARD_TYPES:
        return raw[0]
    return int.from_bytes(raw, "big")


def vendor_type_is_ambiguous(tlv_type: int, endian: Endian) -> bool:
    """Return True when a vendor type would read back as one of MCUboot's own types."""
    raw = tlv_type.to_bytes(2, "big" if endian == "big" else "little")
    return _decode_type(raw, endian) != tlv_type


def iter_tlvs_unverified(area: bytes, endian: Endian, source: str) -> Iterator[tuple[int, bytes]]:
    """Yield (type, value) for each TLV in `area`, which excludes the info header.

    Raises MalformedImageError when a TLV header or value runs past the end of the area.
    """
    prefix = _STRUCT_PREFIX[endian]
    offset = 0
    while offset < len(area):
        if len(area) - offset < TLV_HEADER_SIZE:
            raise MalformedImageError(
                f"{source}: {len(area) - offset} bytes left at offset {offset}, too few for "
                f"a {TLV_HEADER_SIZE}-byte TLV header"
            )
        tlv_type = _decode_type(area[offset : offset + 2], endian)
        (length,) = struct.unpack(prefix + "H", area[offset + 2 : offset + 4])
        start = offset + TLV_HEADER_SIZE
        if length > len(area) - start:
            raise MalformedImageError(
                f"{source}: TLV {tlv_name(tlv_type)} at offset {offset} claims {length} "
                f"bytes but only {len(area) - start} remain in the area"
            )
        yield tlv_type, area[start : start + length]
        offset = start + length


# Boot trailer: the 16-byte magic at the end of a slot, and the alternative magic MCUboot
# uses when the maximum flash write alignment is larger than 8 bytes.
BOOT_MAGIC = bytes.fromhex("77c295f360d2ef7f3552500f2cb67980")
_BOOT_MAGIC_LARGE_ALIGN_TAIL = bytes.fromhex("2de15d29410b8d77679c110f1f8a")
BOOT_MAGIC_SIZE = 16
DEFAULT_MAX_ALIGN = 8


def boot_magic(max_align: int, endian: Endian) -> bytes:
    """Return the trailer magic for a slot whose largest write alignment is `max_align`."""
    if max_align == DEFAULT_MAX_ALIGN:
        return BOOT_MAGIC
    return max_align.to_bytes(2, endian) + _BOOT_MAGIC_LARGE_ALIGN_TAIL
