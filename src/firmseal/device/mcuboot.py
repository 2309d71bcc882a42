"""Verify an MCUboot image the way the bootloader does before it boots or swaps it in.

Pure: the image comes in as a stream and is read once, in chunks, so memory does not grow
with the image size. Both TLV areas are at most 64 KiB, the limit of their size fields.
Every failure raises a subclass of `VerificationError`; nothing returns a bool to ignore.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from firmseal.device import keys
from firmseal.device.errors import (
    DigestMismatchError,
    MalformedImageError,
    RollbackError,
    SizeMismatchError,
    UnknownKeyError,
    UnsupportedKeyError,
)
from firmseal.device.mcuboot_layout import (
    HEADER_SIZE,
    IMAGE_MAGIC,
    PROTECTED_TLVS,
    TLV_INFO_MAGIC,
    TLV_INFO_SIZE,
    TLV_PROTECTED_INFO_MAGIC,
    UNPROTECTED_TLVS,
    UNSUPPORTED_TLVS,
    VENDOR_TLV_MAX,
    VENDOR_TLV_MIN,
    Endian,
    ImageHeader,
    ImageVersion,
    McubootAlgorithm,
    Tlv,
    algorithm_of_key,
    describe_key,
    iter_tlvs_unverified,
    key_bytes,
    parse_header_unverified,
    tlv_name,
    unpack_tlv_info,
)

CHUNK_SIZE = 1024 * 1024
_STRUCT_PREFIX: dict[str, str] = {"little": "<", "big": ">"}
_DEVICE_ALGORITHM = {
    McubootAlgorithm.ECDSA_P256: keys.ECDSA_SHA256,
    McubootAlgorithm.ECDSA_P384: keys.ECDSA_SHA384,
    McubootAlgorithm.ED25519: keys.ED25519,
    McubootAlgorithm.RSA_2048: keys.RSA_PSS_SHA256,
    McubootAlgorithm.RSA_3072: keys.RSA_PSS_SHA256,
}
_FIXED_LENGTHS: dict[int, int] = {
    Tlv.SEC_CNT: 4,
    Tlv.DEPENDENCY: 12,
    Tlv.UUID_VID: 16,
    Tlv.UUID_CID: 16,
}
_HASH_TLVS = (Tlv.SHA256, Tlv.SHA384, Tlv.SHA512)
_SIGNATURE_TLVS = (Tlv.ECDSA_SIG, Tlv.ED25519, Tlv.RSA2048_PSS, Tlv.RSA3072_PSS)


class Hasher(Protocol):
    """The part of a hashlib hash object that verification uses."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


@dataclass(frozen=True)
class Dependency:
    """A DEPENDENCY TLV: the image `image_id` must be at `min_version` or newer."""

    image_id: int
    min_version: ImageVersion


@dataclass(frozen=True)
class VerifiedMcubootImage:
    """The facts a successful verification established."""

    version: ImageVersion
    security_counter: int | None
    digest: bytes
    algorithm: McubootAlgorithm
    key_fingerprint: str
    header_size: int
    image_size: int
    load_address: int
    flags: int
    signed_size: int
    dependencies: tuple[Dependency, ...] = ()
    vendor_id: bytes | None = None
    class_id: bytes | None = None


@dataclass
class _TlvAreas:
    """TLVs of both areas by type. Only DEPENDENCY may repeat."""

    protected: dict[int, list[bytes]]
    unprotected: dict[int, list[bytes]]
    unprotected_size: int


def looks_like_mcuboot_image(head: bytes) -> bool:
    """Return True when `head` starts with the MCUboot image magic in either byte order."""
    if len(head) < 4:
        return False
    return IMAGE_MAGIC in (int.from_bytes(head[:4], "little"), int.from_bytes(head[:4], "big"))


def _read_exact(stream: BinaryIO, count: int, source: str, part: str) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise MalformedImageError(
            f"{source} is truncated: {part} needs {count} bytes but only {len(data)} remain"
        )
    return data


def _hash_names(
    trusted_keys: Sequence[PublicKeyTypes], algorithm: McubootAlgorithm | None
) -> list[str]:
    if not trusted_keys:
        raise ValueError("at least one trusted public key is required")
    algorithms = {algorithm_of_key(k) for k in trusted_keys}
    if algorithm is not None:
        for key in trusted_keys:
            if algorithm_of_key(key) is not algorithm:
                raise UnsupportedKeyError(
                    f"trusted {describe_key(key)} cannot check {algorithm.name} images; "
                    f"give a key of the type the MCUboot platform signs with"
                )
    return sorted({a.hash_name for a in algorithms})


def _hash_exact(stream: BinaryIO, hashers: Sequence[Hasher], count: int, source: str) -> None:
    """Feed exactly `count` bytes of `stream` to every hasher, in chunks."""
    remaining = count
    while remaining > 0:
        chunk = stream.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            raise MalformedImageError(
                f"{source} is truncated: the header records {count} bytes of header padding "
                f"and payload but the image ends {remaining} bytes short"
            )
        for hasher in hashers:
            hasher.update(chunk)
        remaining -= len(chunk)


def _check_header(
    header: ImageHeader, expected_header_size: int | None, max_size: int | None, source: str
) -> None:
    if expected_header_size is not None and header.header_size != expected_header_size:
        raise MalformedImageError(
            f"{source} records a header size of {header.header_size} bytes, but this device "
            f"expects {expected_header_size}; sign it with header-size={expected_header_size}"
        )
    minimum = header.header_size + header.image_size + header.protected_tlv_size + TLV_INFO_SIZE
    if max_size is not None and minimum > max_size:
        raise SizeMismatchError(
            f"{source} needs at least {minimum} bytes (header {header.header_size}, payload "
            f"{header.image_size}, TLVs), more than the slot size of {max_size} bytes"
        )


def _read_protected_area(
    stream: BinaryIO, header: ImageHeader, endian: Endian, source: str
) -> tuple[bytes, bytes]:
    """Return (protected area with its info header, the unprotected info header)."""
    if header.protected_tlv_size == 0:
        info = _read_exact(stream, TLV_INFO_SIZE, source, "the TLV info header")
        magic, _ = unpack_tlv_info(info, endian, source)
        if magic == TLV_PROTECTED_INFO_MAGIC:
            raise MalformedImageError(
                f"{source} has a protected TLV area but its header records a protected TLV "
                "size of 0"
            )
        return b"", info
    area = _read_exact(stream, header.protected_tlv_size, source, "the protected TLV area")
    magic, total = unpack_tlv_info(area, endian, source)
    if magic != TLV_PROTECTED_INFO_MAGIC:
        raise MalformedImageError(
            f"{source}: protected TLV area starts with magic 0x{magic:04x}, expected "
            f"0x{TLV_PROTECTED_INFO_MAGIC:04x}"
        )
    if total != header.protected_tlv_size:
        raise MalformedImageError(
            f"{source}: protected TLV info records {total} bytes but the image header "
            f"records {header.protected_tlv_size}"
        )
    return area, _read_exact(stream, TLV_INFO_SIZE, source, "the TLV info header")


def _read_unprotected_area(
    stream: BinaryIO, info: bytes, endian: Endian, source: str
) -> tuple[bytes, int]:
    """Return the unprotected TLVs (after the info header) and the area's total size."""
    magic, total = unpack_tlv_info(info, endian, source)
    if magic != TLV_INFO_MAGIC:
        raise MalformedImageError(
            f"{source}: TLV area starts with magic 0x{magic:04x}, expected "
            f"0x{TLV_INFO_MAGIC:04x}; the header's image or protected TLV size is wrong"
        )
    if total < TLV_INFO_SIZE:
        raise MalformedImageError(
            f"{source}: TLV info records {total} bytes, less than its own {TLV_INFO_SIZE} bytes"
        )
    area = _read_exact(stream, total - TLV_INFO_SIZE, source, "the TLV area its info records")
    return area, total


def _collect(area: bytes, endian: Endian, source: str, protected: bool) -> dict[int, list[bytes]]:
    where = f"{source} {'protected' if protected else 'unprotected'} TLV area"
    found: dict[int, list[bytes]] = {}
    for tlv_type, value in iter_tlvs_unverified(area, endian, where):
        _check_tlv_placement(tlv_type, protected, where)
        if tlv_type in found and tlv_type != Tlv.DEPENDENCY:
            raise MalformedImageError(f"{where}: duplicate TLV {tlv_name(tlv_type)}")
        expected = _FIXED_LENGTHS.get(tlv_type)
        if expected is not None and len(value) != expected:
            raise MalformedImageError(
                f"{where}: TLV {tlv_name(tlv_type)} is {len(value)} bytes, expected {expected}"
            )
        found.setdefault(tlv_type, []).append(value)
    return found


def _check_tlv_placement(tlv_type: int, protected: bool, where: str) -> None:
    if tlv_type in UNSUPPORTED_TLVS:
        raise MalformedImageError(
            f"{where}: TLV {tlv_name(tlv_type)} marks an encrypted, compressed or "
            "pure-signature image, which this verifier does not support"
        )
    is_vendor = VENDOR_TLV_MIN <= tlv_type <= VENDOR_TLV_MAX
    if protected:
        if tlv_type in UNPROTECTED_TLVS:
            raise MalformedImageError(
                f"{where}: TLV {tlv_name(tlv_type)} belongs in the unprotected TLV area"
            )
        if tlv_type not in PROTECTED_TLVS and not is_vendor:
            raise MalformedImageError(f"{where}: unknown TLV type {tlv_name(tlv_type)}")
        return
    if tlv_type in PROTECTED_TLVS or is_vendor:
        raise MalformedImageError(
            f"{where}: TLV {tlv_name(tlv_type)} must be in the protected TLV area, where the "
            "image hash covers it"
        )
    if tlv_type not in UNPROTECTED_TLVS:
        raise MalformedImageError(f"{where}: unknown TLV type {tlv_name(tlv_type)}")


def _only(found: dict[int, list[bytes]], types: Sequence[Tlv], kind: str, source: str) -> Tlv:
    present = [t for t in types if t in found]
    if not present:
        raise MalformedImageError(f"{source} has no {kind} TLV; it is not a signed image")
    if len(present) > 1:
        names = ", ".join(tlv_name(t) for t in present)
        raise MalformedImageError(f"{source} has more than one {kind} TLV: {names}")
    return present[0]


def _image_algorithm(found: dict[int, list[bytes]], source: str) -> McubootAlgorithm:
    hash_tlv = _only(found, _HASH_TLVS, "hash", source)
    signature_tlv = _only(found, _SIGNATURE_TLVS, "signature", source)
    for algorithm in McubootAlgorithm:
        if algorithm.hash_tlv == hash_tlv and algorithm.signature_tlv == signature_tlv:
            return algorithm
    raise UnsupportedKeyError(
        f"{source} pairs hash TLV {tlv_name(hash_tlv)} with signature TLV "
        f"{tlv_name(signature_tlv)}, which no supported MCUboot signature type uses"
    )


def _candidate_keys(
    trusted_keys: Sequence[PublicKeyTypes],
    image_algorithm: McubootAlgorithm,
    expected: McubootAlgorithm | None,
    source: str,
) -> list[PublicKeyTypes]:
    if expected is not None and image_algorithm is not expected:
        raise UnsupportedKeyError(
            f"{source} is signed with {image_algorithm.name}, but this device verifies "
            f"{expected.name} signatures; sign it on the matching MCUboot platform"
        )
    candidates = [k for k in trusted_keys if algorithm_of_key(k) is image_algorithm]
    if not candidates:
        trusted = ", ".join(describe_key(k) for k in trusted_keys)
        raise UnsupportedKeyError(
            f"{source} is signed with {image_algorithm.name}, but the trusted keys are: {trusted}"
        )
    return candidates


def _match_key(
    areas: _TlvAreas,
    candidates: Sequence[PublicKeyTypes],
    algorithm: McubootAlgorithm,
    source: str,
) -> PublicKeyTypes:
    """Return the trusted key the image names by KEYHASH or PUBKEY, or raise UnknownKeyError."""
    found = areas.unprotected
    key_tlv = _only(found, (Tlv.KEYHASH, Tlv.PUBKEY), "KEYHASH or PUBKEY", source)
    value = found[key_tlv][0]
    for candidate in candidates:
        encoded = key_bytes(candidate)
        if key_tlv == Tlv.KEYHASH:
            encoded = hashlib.new(algorithm.hash_name, encoded).digest()
        if hmac.compare_digest(encoded, value):
            return candidate
    trusted = ", ".join(keys.fingerprint(k) for k in candidates)
    kind = "key hash" if key_tlv == Tlv.KEYHASH else "public key"
    raise UnknownKeyError(
        f"{source} was signed by a key no trust anchor matches: its {kind} "
        f"{value.hex()[:64]} matches none of the trusted keys (SHA-256 fingerprints "
        f"{trusted})"
    )


def _strip_ecdsa_padding(signature: bytes) -> bytes:
    """Drop the zero bytes imgtool --pad-sig appends after a DER ECDSA signature."""
    if len(signature) >= 2 and signature[0] == 0x30 and signature[1] < 0x80:
        end = signature[1] + 2
        if end < len(signature) and not any(signature[end:]):
            return signature[:end]
    return signature


def _security_counter(
    areas: _TlvAreas, endian: Endian, minimum: int | None, source: str
) -> int | None:
    values = areas.protected.get(Tlv.SEC_CNT)
    counter = None
    if values:
        (counter,) = struct.unpack(_STRUCT_PREFIX[endian] + "I", values[0])
    if minimum is not None and (counter is None or counter < minimum):
        counter_text = "none" if counter is None else str(counter)
        raise RollbackError(
            f"{source} has security counter {counter_text}, below the device's stored counter "
            f"{minimum}; the device rejects it to stop a rollback to older firmware"
        )
    return counter


def _dependencies(areas: _TlvAreas, endian: Endian) -> tuple[Dependency, ...]:
    prefix = _STRUCT_PREFIX[endian]
    result = []
    for value in areas.protected.get(Tlv.DEPENDENCY, []):
        image_id, major, minor, revision, build = struct.unpack(prefix + "B3xBBHI", value)
        result.append(Dependency(image_id, ImageVersion(major, minor, revision, build)))
    return tuple(result)


def _read_areas(
    stream: BinaryIO,
    header: ImageHeader,
    hashers: Sequence[Hasher],
    endian: Endian,
    source: str,
) -> _TlvAreas:
    protected, info = _read_protected_area(stream, header, endian, source)
    for hasher in hashers:
        hasher.update(protected)
    unprotected, total = _read_unprotected_area(stream, info, endian, source)
    return _TlvAreas(
        protected=_collect(protected[TLV_INFO_SIZE:], endian, source, protected=True),
        unprotected=_collect(unprotected, endian, source, protected=False),
        unprotected_size=total,
    )


def verify_mcuboot_image(
    image: BinaryIO,
    trusted_keys: Sequence[PublicKeyTypes],
    *,
    algorithm: McubootAlgorithm | None = None,
    endian: Endian = "little",
    max_size: int | None = None,
    header_size: int | None = None,
    min_security_counter: int | None = None,
    source: str = "image",
) -> VerifiedMcubootImage:
    """Check an MCUboot image against the trusted keys and return what it established.

    Raises a VerificationError subclass naming the first check that fails.
    `max_size` is the slot size: header, payload and both TLV areas must fit in it.
    `algorithm` pins the signature type the device was built for. `min_security_counter`
    is the device's stored anti-rollback counter. Bytes after the TLV area (slot padding
    and the boot trailer) are not read.
    """
    # 1. Trusted keys first: their types fix which hashes to compute while streaming.
    hash_names = _hash_names(trusted_keys, algorithm)
    # 2. Header: magic, header size and the sizes it records, before anything is hashed.
    header_bytes = image.read(HEADER_SIZE)
    header = parse_header_unverified(header_bytes, endian, source)
    _check_header(header, header_size, max_size, source)
    # 3. Hash the header, its padding and the payload in chunks, then the protected TLVs.
    hashers = [hashlib.new(name, header_bytes) for name in hash_names]
    _hash_exact(image, hashers, header.header_size - HEADER_SIZE + header.image_size, source)
    # 4. Both TLV areas, bounded by their 16-bit sizes. Each TLV must fit in its area,
    #    sit in the right area, be known, and appear once (DEPENDENCY may repeat).
    areas = _read_areas(image, header, hashers, endian, source)
    signed_size = header.header_size + header.image_size + header.protected_tlv_size
    if max_size is not None and signed_size + areas.unprotected_size > max_size:
        raise SizeMismatchError(
            f"{source} is {signed_size + areas.unprotected_size} bytes with its TLVs, more "
            f"than the slot size of {max_size} bytes"
        )
    # 5. The hash and signature TLV types fix the signature type. It must be one that the
    #    trusted keys can check, so a key of the wrong type is not reported as forgery.
    image_algorithm = _image_algorithm(areas.unprotected, source)
    candidates = _candidate_keys(trusted_keys, image_algorithm, algorithm, source)
    digest = hashers[hash_names.index(image_algorithm.hash_name)].digest()
    # 6. The recorded hash must match, or the image changed after signing.
    recorded = areas.unprotected[image_algorithm.hash_tlv][0]
    if not hmac.compare_digest(recorded, digest):
        raise DigestMismatchError(
            f"{source}: recorded {image_algorithm.hash_name} {recorded.hex()} differs from "
            f"the computed {digest.hex()}; the image changed after signing"
        )
    # 7. The image must name a trusted key, then the signature must verify under it.
    public_key = _match_key(areas, candidates, image_algorithm, source)
    signature = areas.unprotected[image_algorithm.signature_tlv][0]
    if image_algorithm.signature_tlv == Tlv.ECDSA_SIG:
        signature = _strip_ecdsa_padding(signature)
    keys.verify_digest(public_key, signature, digest, _DEVICE_ALGORITHM[image_algorithm])
    # 8. Anti-rollback: the signed security counter against the device's stored one.
    counter = _security_counter(areas, endian, min_security_counter, source)
    vendor = areas.protected.get(Tlv.UUID_VID)
    class_ = areas.protected.get(Tlv.UUID_CID)
    return VerifiedMcubootImage(
        version=header.version,
        security_counter=counter,
        digest=digest,
        algorithm=image_algorithm,
        key_fingerprint=keys.fingerprint(public_key),
        header_size=header.header_size,
        image_size=header.image_size,
        load_address=header.load_address,
        flags=header.flags,
        signed_size=signed_size + areas.unprotected_size,
        dependencies=_dependencies(areas, endian),
        vendor_id=vendor[0] if vendor else None,
        class_id=class_[0] if class_ else None,
    )
