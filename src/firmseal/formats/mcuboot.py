"""MCUboot images, byte-compatible with `imgtool sign` 2.x.

The output is the 32-byte header, header padding, the payload, the protected TLV area and
the unprotected TLV area (hash, key hash or key, signature), then optionally the slot
padding and boot trailer. The input is read twice: once to hash it, once to write the
output, and the second read is hashed again so a file that changed in between is caught.
Memory does not grow with the image size.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from firmseal.device import keys as device_keys
from firmseal.device.errors import VerificationError
from firmseal.device.mcuboot_layout import (
    BOOT_MAGIC_SIZE,
    FLAG_RAM_LOAD,
    HEADER_SIZE,
    MAX_TLV_AREA_SIZE,
    TLV_HEADER_SIZE,
    TLV_INFO_MAGIC,
    TLV_INFO_SIZE,
    TLV_PROTECTED_INFO_MAGIC,
    ImageHeader,
    McubootAlgorithm,
    Tlv,
    algorithm_of_key,
    boot_magic,
    describe_key,
    key_bytes,
    pack_tlv,
    pack_tlv_info,
    with_article,
)
from firmseal.errors import BackendError, InvalidInputError
from firmseal.formats.base import CHUNK_SIZE, ImageInput, ProgressCallback, SignContext, SignResult
from firmseal.formats.intelhex_writer import IntelHexWriter
from firmseal.formats.mcuboot_options import McubootOptions, parse_options
from firmseal.fsutil import atomic_writer
from firmseal.kms.base import SignatureScheme, Signer

# The shortest signature of each type: a DER ECDSA signature of two one-byte integers, and
# the fixed sizes of Ed25519 and RSA-PSS signatures.
_MIN_SIGNATURE_SIZES = {
    McubootAlgorithm.ECDSA_P256: 8,
    McubootAlgorithm.ECDSA_P384: 8,
    McubootAlgorithm.ED25519: 64,
    McubootAlgorithm.RSA_2048: 256,
    McubootAlgorithm.RSA_3072: 384,
}

# Software component claims of a PSA boot record, keyed as in Arm's PSA attestation API.
_SW_TYPE, _SW_MEASUREMENT, _SW_VERSION, _SW_SIGNER_ID, _SW_DESCRIPTION = 1, 2, 4, 5, 6

SCHEMES = {
    McubootAlgorithm.ECDSA_P256: SignatureScheme.ECDSA_SHA256,
    McubootAlgorithm.ECDSA_P384: SignatureScheme.ECDSA_SHA384,
    McubootAlgorithm.ED25519: SignatureScheme.ED25519,
    McubootAlgorithm.RSA_2048: SignatureScheme.RSA_PSS_SHA256,
    McubootAlgorithm.RSA_3072: SignatureScheme.RSA_PSS_SHA256,
}
_DEVICE_ALGORITHMS = {
    SignatureScheme.ECDSA_SHA256: device_keys.ECDSA_SHA256,
    SignatureScheme.ECDSA_SHA384: device_keys.ECDSA_SHA384,
    SignatureScheme.ED25519: device_keys.ED25519,
    SignatureScheme.RSA_PSS_SHA256: device_keys.RSA_PSS_SHA256,
}


@dataclass(frozen=True)
class ImagePlan:
    """Everything about the output that is known before the image is hashed."""

    options: McubootOptions
    algorithm: McubootAlgorithm
    input_name: str
    input_size: int
    header: ImageHeader
    protected_area: bytes
    key_tlv: tuple[Tlv, bytes]
    base_address: int

    @property
    def signed_size(self) -> int:
        """Bytes covered by the image hash: header, padding, payload, protected TLVs."""
        return self.header.header_size + self.header.image_size + len(self.protected_area)


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def trailer_size(options: McubootOptions) -> int:
    """Return the bytes MCUboot reserves at the end of a slot for swap status and flags.

    The swap status area contains three entries of `align` bytes per sector. Then come
    four `max_align` fields (image_ok, copy_done, swap_info, swap_size) and the magic.
    """
    magic_area = align_up(BOOT_MAGIC_SIZE, options.max_align)
    return options.max_sectors * 3 * options.align + options.max_align * 4 + magic_area


def check_slot_capacity(options: McubootOptions, algorithm: McubootAlgorithm) -> None:
    """Raise InvalidInputError if even an empty payload cannot fit in `slot-size`.

    The minimum is the header, the protected TLVs, the shortest unprotected TLV area of
    `algorithm` (hash, key hash, shortest signature) and the boot trailer.
    """
    if not options.slot_size:
        return
    digest_size = algorithm.digest_size
    protected_size = len(build_protected_area(options, algorithm, bytes(digest_size)))
    # NOTE: this is a lower bound. A full public key (public-key-format=full) is longer than
    # the key hash counted here, and real DER ECDSA signatures are longer than 8 bytes.
    unprotected_size = (
        TLV_INFO_SIZE
        + 2 * (TLV_HEADER_SIZE + digest_size)
        + TLV_HEADER_SIZE
        + _MIN_SIGNATURE_SIZES[algorithm]
    )
    trailer = trailer_size(options)
    needed = options.header_size + protected_size + unprotected_size + trailer
    if needed > options.slot_size:
        raise InvalidInputError(
            f"invalid signing parameter slot-size={options.slot_size} (0x{options.slot_size:x}): "
            f"no image fits, because header-size={options.header_size} "
            f"(0x{options.header_size:x}), at least {protected_size + unprotected_size} bytes "
            f"of TLVs and the {trailer}-byte boot trailer need at least {needed} bytes; raise "
            "slot-size, or lower header-size or max-sectors"
        )


def output_name(image: ImageInput) -> str:
    """Name the output after the input: app.bin -> app.signed.bin, app.hex -> app.signed.hex."""
    path = Path(Path(image.name).name)
    suffix = path.suffix or (".hex" if image.source_format == "hex" else ".bin")
    return f"{path.stem}.signed{suffix}"


def load_signer_key(signer: Signer, algorithm: McubootAlgorithm) -> PublicKeyTypes:
    """Return the signer's public key after checking it fits `algorithm` and its scheme."""
    public_key = serialization.load_der_public_key(signer.public_key_der())
    try:
        key_algorithm = algorithm_of_key(public_key)
    except VerificationError as exc:
        raise InvalidInputError(str(exc)) from None
    if key_algorithm is not algorithm or signer.scheme is not SCHEMES[algorithm]:
        raise InvalidInputError(
            f"the signing key is {with_article(describe_key(public_key))} with scheme "
            f"{signer.scheme}, "
            f"but this MCUboot platform signs {algorithm.name} with {SCHEMES[algorithm]}; "
            "use a profile whose key matches the platform"
        )
    return public_key


def _boot_record(
    options: McubootOptions, algorithm: McubootAlgorithm, sw_type: str, key_hash: bytes
) -> bytes:
    # The measurement is zero and comes last, so the bootloader can fill it in after
    # hashing. The hash covers this TLV, so the TLV cannot contain the hash itself.
    version = options.version
    claims = {
        _SW_TYPE: sw_type,
        _SW_VERSION: f"{version.major}.{version.minor}.{version.revision}",
        _SW_SIGNER_ID: key_hash,
        _SW_DESCRIPTION: algorithm.hash_tlv.name,
        _SW_MEASUREMENT: bytes(algorithm.digest_size),
    }
    return cbor2.dumps(claims)


def build_protected_area(
    options: McubootOptions, algorithm: McubootAlgorithm, key_hash: bytes
) -> bytes:
    """Return the protected TLV area with its info header, or b"" when it has no TLVs.

    The order is imgtool's: security counter, boot record, dependencies, vendor and
    class ids, custom TLVs.
    """
    endian = options.endian
    tlvs: list[bytes] = []
    if options.security_counter is not None:
        tlvs.append(pack_tlv(Tlv.SEC_CNT, options.security_counter.to_bytes(4, endian), endian))
    if options.boot_record is not None:
        record = _boot_record(options, algorithm, options.boot_record, key_hash)
        tlvs.append(pack_tlv(Tlv.BOOT_RECORD, record, endian))
    for image_id, version in options.dependencies:
        value = image_id.to_bytes(1, endian) + bytes(3) + version.pack(endian)
        tlvs.append(pack_tlv(Tlv.DEPENDENCY, value, endian))
    if options.vendor_id is not None:
        tlvs.append(pack_tlv(Tlv.UUID_VID, options.vendor_id, endian))
    if options.class_id is not None:
        tlvs.append(pack_tlv(Tlv.UUID_CID, options.class_id, endian))
    for tag, value in options.custom_tlvs:
        tlvs.append(pack_tlv(tag, value, endian))
    if not tlvs:
        return b""
    body = b"".join(tlvs)
    total = TLV_INFO_SIZE + len(body)
    if total > MAX_TLV_AREA_SIZE:
        raise InvalidInputError(
            f"the protected TLVs take {total} bytes, over the {MAX_TLV_AREA_SIZE}-byte limit "
            "of the header field; shorten the custom-tlv values"
        )
    return pack_tlv_info(TLV_PROTECTED_INFO_MAGIC, total, endian) + body


def plan_image(
    image: ImageInput,
    options: McubootOptions,
    algorithm: McubootAlgorithm,
    public_key: PublicKeyTypes,
) -> ImagePlan:
    """Check the input's size and address against the options and lay out the output."""
    header_size = options.header_size
    if not options.pad_header and image.size < header_size:
        raise InvalidInputError(
            f"{image.name} is {image.size} bytes, shorter than header-size={header_size}; "
            "set --param pad-header=true to prepend the header"
        )
    image_size = image.size if options.pad_header else image.size - header_size

    encoded_key = key_bytes(public_key)
    key_hash = hashlib.new(algorithm.hash_name, encoded_key).digest()
    key_tlv = (Tlv.PUBKEY, encoded_key) if options.full_public_key else (Tlv.KEYHASH, key_hash)
    protected = build_protected_area(options, algorithm, key_hash)

    header = ImageHeader(
        load_address=options.load_address,
        header_size=header_size,
        protected_tlv_size=len(protected),
        image_size=image_size,
        flags=FLAG_RAM_LOAD if options.load_address else 0,
        version=options.version,
    )

    plan = ImagePlan(
        options=options,
        algorithm=algorithm,
        input_name=image.name,
        input_size=image.size,
        header=header,
        protected_area=protected,
        key_tlv=key_tlv,
        base_address=_hex_base_address(image, options),
    )
    _check_slot(plan, TLV_INFO_SIZE)
    return plan


def _hex_base_address(image: ImageInput, options: McubootOptions) -> int:
    if image.source_format != "hex":
        return 0
    base = image.base_address
    # As imgtool: a prepended header moves the start of the image down by its size,
    # except at address 0.
    if options.pad_header and base:
        if base < options.header_size:
            raise InvalidInputError(
                f"{image.name} starts at 0x{base:x}, too low to prepend a "
                f"{options.header_size}-byte header; set pad-header=false and reserve the "
                "header in the image"
            )
        base -= options.header_size
    end = base + (options.slot_size or 0)
    if end > 0x1_0000_0000:
        raise InvalidInputError(
            f"{image.name}: slot-size={options.slot_size} from 0x{base:x} runs past the "
            "32-bit address space of Intel HEX"
        )
    return base


def _check_slot(plan: ImagePlan, unprotected_size: int) -> None:
    options = plan.options
    if not options.slot_size:
        return
    needed = plan.signed_size + unprotected_size + trailer_size(options)
    if needed > options.slot_size:
        raise InvalidInputError(
            f"{plan.input_name}: the signed image ({plan.signed_size + unprotected_size} "
            f"bytes) plus the boot trailer ({trailer_size(options)} bytes) needs {needed} "
            f"bytes, over slot-size={options.slot_size}; raise slot-size or lower max-sectors"
        )


def _signed_region(
    plan: ImagePlan, stream: BinaryIO, progress: ProgressCallback
) -> Iterator[bytes]:
    """Yield the bytes the image hash covers, reading the input once from `stream`."""
    options = plan.options
    yield plan.header.pack(options.endian)
    total = 0
    if options.pad_header:
        yield bytes([options.erased_value]) * (options.header_size - HEADER_SIZE)
    else:
        reserved = _read_up_to(stream, options.header_size)
        total += len(reserved)
        progress(len(reserved))
        if any(reserved):
            raise InvalidInputError(
                f"{plan.input_name} does not start with {options.header_size} zero bytes for "
                "the header; set --param pad-header=true to prepend the header instead"
            )
        yield reserved[HEADER_SIZE:]
    while chunk := stream.read(CHUNK_SIZE):
        total += len(chunk)
        progress(len(chunk))
        yield chunk
    if total != plan.input_size:
        raise InvalidInputError(
            f"{plan.input_name} was {plan.input_size} bytes when signing started but "
            f"{total} bytes were read; sign it again once it no longer changes"
        )
    yield plan.protected_area


def _read_up_to(stream: BinaryIO, count: int) -> bytes:
    """Read `count` bytes, or fewer only at the end of the stream, across short reads."""
    parts: list[bytes] = []
    remaining = count
    while remaining > 0 and (part := stream.read(remaining)):
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def hash_image(plan: ImagePlan, stream: BinaryIO, progress: ProgressCallback) -> bytes:
    """Return the image digest of the plan over the input read from `stream`."""
    hasher = hashlib.new(plan.algorithm.hash_name)
    for chunk in _signed_region(plan, stream, progress):
        hasher.update(chunk)
    return hasher.digest()


def build_unprotected_area(plan: ImagePlan, digest: bytes, signature: bytes) -> bytes:
    endian = plan.options.endian
    key_type, key_value = plan.key_tlv
    body = (
        pack_tlv(plan.algorithm.hash_tlv, digest, endian)
        + pack_tlv(key_type, key_value, endian)
        + pack_tlv(plan.algorithm.signature_tlv, signature, endian)
    )
    return pack_tlv_info(TLV_INFO_MAGIC, TLV_INFO_SIZE + len(body), endian) + body


def check_signature(
    public_key_der: bytes, scheme: SignatureScheme, digest: bytes, signature: bytes
) -> None:
    """Raise VerificationError unless `signature` verifies over `digest` under the key."""
    public_key = serialization.load_der_public_key(public_key_der)
    device_keys.verify_digest(public_key, signature, digest, _DEVICE_ALGORITHMS[scheme])


def _trailer(options: McubootOptions) -> bytes:
    """Return the boot trailer: erased swap status, image_ok if confirmed, and the magic."""
    trailer = bytearray([options.erased_value]) * trailer_size(options)
    trailer[-BOOT_MAGIC_SIZE:] = boot_magic(options.max_align, options.endian)
    if options.confirm:
        magic_area = align_up(BOOT_MAGIC_SIZE, options.max_align)
        trailer[-(magic_area + options.max_align)] = 0x01
    return bytes(trailer)


def _body(plan: ImagePlan, stream: BinaryIO, digest: bytes, unprotected: bytes) -> Iterator[bytes]:
    """Yield the signed image from a second read, checking it still hashes to `digest`."""
    hasher = hashlib.new(plan.algorithm.hash_name)
    for chunk in _signed_region(plan, stream, lambda _: None):
        hasher.update(chunk)
        yield chunk
    if not hmac.compare_digest(hasher.digest(), digest):
        raise InvalidInputError(
            f"{plan.input_name} changed between the hashing and the writing pass; sign it "
            "again once it no longer changes"
        )
    yield unprotected


def write_binary(out: BinaryIO, plan: ImagePlan, body: Iterator[bytes]) -> None:
    written = 0
    for chunk in body:
        out.write(chunk)
        written += len(chunk)
    options = plan.options
    if options.pad or options.confirm:
        fill = options.slot_size - written - trailer_size(options)
        filler = bytes([options.erased_value]) * min(fill, CHUNK_SIZE)
        while fill > 0:
            out.write(filler[:fill])
            fill -= len(filler)
        out.write(_trailer(options))


def write_hex(out: BinaryIO, plan: ImagePlan, body: Iterator[bytes], signed_size: int) -> None:
    """Write Intel HEX: the image at the base address and, when padded, the trailer fields.

    As in imgtool, the slot padding is not written out, only image_ok and the magic.
    """
    options = plan.options
    base = plan.base_address
    padded = options.pad or options.confirm
    slot_end = base + options.slot_size
    writer = IntelHexWriter(out, (slot_end if padded else base + signed_size) - 1)
    address = base
    for chunk in body:
        writer.write(address, chunk)
        address += len(chunk)
    if padded:
        if options.confirm:
            magic_area = align_up(BOOT_MAGIC_SIZE, options.max_align)
            flag = bytes([0x01]) + bytes([options.erased_value]) * (options.max_align - 1)
            writer.write(slot_end - magic_area - options.max_align, flag)
        writer.write(slot_end - BOOT_MAGIC_SIZE, boot_magic(options.max_align, options.endian))
    writer.close()


def write_image(
    image: ImageInput, plan: ImagePlan, digest: bytes, signature: bytes, out_dir: Path
) -> Path:
    """Write the signed image atomically into `out_dir` and return its path."""
    unprotected = build_unprotected_area(plan, digest, signature)
    _check_slot(plan, len(unprotected))
    path = out_dir / output_name(image)
    with image.reopen() as stream, atomic_writer(path) as out:
        body = _body(plan, stream, digest, unprotected)
        if image.source_format == "hex":
            write_hex(out, plan, body, plan.signed_size + len(unprotected))
        else:
            write_binary(out, plan, body)
    return path


def prepare(
    image: ImageInput, signer: Signer, algorithm: McubootAlgorithm, context: SignContext
) -> tuple[ImagePlan, bytes]:
    """Parse the options, lay out the image and hash it in the first read.

    Returns the plan and the digest.
    """
    options = parse_options(context.params)
    public_key = load_signer_key(signer, algorithm)
    plan = plan_image(image, options, algorithm, public_key)
    return plan, hash_image(plan, image.first_pass, context.progress)


@dataclass(frozen=True)
class McubootFormat:
    """The MCUboot image format for one signature type."""

    algorithm: McubootAlgorithm

    def validate_params(self, params: Mapping[str, str]) -> None:
        """Check a signing profile's parameters, which may leave `version` to each job."""
        check_slot_capacity(parse_options({"version": "0", **params}), self.algorithm)

    def validate_job_params(self, params: Mapping[str, str]) -> None:
        """Check a signing job's complete parameters before any image is read."""
        check_slot_capacity(parse_options(params), self.algorithm)

    def sign(self, image: ImageInput, signer: Signer, context: SignContext) -> SignResult:
        plan, digest = prepare(image, signer, self.algorithm, context)
        signature = signer.sign_digest(digest)
        try:
            check_signature(signer.public_key_der(), signer.scheme, digest, signature)
        except VerificationError as exc:
            raise BackendError(
                f"the key backend returned a signature that does not verify under the "
                f"signer's public key: {exc}"
            ) from None
        path = write_image(image, plan, digest, signature, context.out_dir)
        return SignResult(digest=digest, signature=signature, image_size=image.size, files=[path])
