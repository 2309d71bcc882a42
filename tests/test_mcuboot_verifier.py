"""The device-side MCUboot verifier: each malformed or untrusted image gets its own error."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from firmseal.device.errors import (
    DigestMismatchError,
    MalformedImageError,
    RollbackError,
    SignatureMismatchError,
    SizeMismatchError,
    UnknownKeyError,
    UnsupportedKeyError,
    VerificationError,
)
from firmseal.device.mcuboot import looks_like_mcuboot_image, verify_mcuboot_image
from firmseal.device.mcuboot_layout import (
    TLV_INFO_MAGIC,
    TLV_PROTECTED_INFO_MAGIC,
    ImageHeader,
    ImageVersion,
    McubootAlgorithm,
    Tlv,
    key_bytes,
    pack_tlv,
    pack_tlv_info,
)
from firmseal.kms import software
from firmseal.kms.base import KeySpec, SignatureScheme
from mcuboot_support import binary_input, imgtool_sign, sign_with_firmseal, write_pem

P256 = software.generate_private_key(KeySpec.ECC_NIST_P256)
OTHER_P256 = software.generate_private_key(KeySpec.ECC_NIST_P256)
ED25519 = software.generate_private_key(KeySpec.ED25519)


@dataclass
class Recipe:
    """An image to assemble; each field can be set to something invalid on purpose."""

    payload: bytes = bytes(range(256)) * 8
    header_size: int = 32
    version: ImageVersion = field(default_factory=lambda: ImageVersion(1, 2, 3, 4))
    protected: list[tuple[int, bytes]] = field(
        default_factory=lambda: [(Tlv.SEC_CNT, (9).to_bytes(4, "little"))]
    )
    extra_unprotected: list[tuple[int, bytes]] = field(default_factory=list)
    key_tlv: Tlv = Tlv.KEYHASH
    protected_size_override: int | None = None
    sign_with: software.SigningKey = P256
    scheme: SignatureScheme = SignatureScheme.ECDSA_SHA256
    hash_tlv: Tlv = Tlv.SHA256
    signature_tlv: Tlv = Tlv.ECDSA_SIG
    with_signature: bool = True


def assemble(recipe: Recipe) -> bytes:
    """Build a signed little-endian image from `recipe`, hashing and signing it for real."""
    body = b"".join(pack_tlv(t, v, "little") for t, v in recipe.protected)
    protected = pack_tlv_info(TLV_PROTECTED_INFO_MAGIC, 4 + len(body), "little") + body
    if not recipe.protected:
        protected = b""
    header = ImageHeader(
        load_address=0,
        header_size=recipe.header_size,
        protected_tlv_size=(
            len(protected)
            if recipe.protected_size_override is None
            else recipe.protected_size_override
        ),
        image_size=len(recipe.payload),
        flags=0,
        version=recipe.version,
    ).pack("little")
    signed = header + bytes(recipe.header_size - 32) + recipe.payload + protected
    hash_name = "sha384" if recipe.hash_tlv == Tlv.SHA384 else "sha256"
    digest = hashlib.new(hash_name, signed).digest()
    encoded = key_bytes(recipe.sign_with.public_key())
    key_value = (
        hashlib.new(hash_name, encoded).digest() if recipe.key_tlv == Tlv.KEYHASH else encoded
    )
    tlvs = [(recipe.hash_tlv, digest), (recipe.key_tlv, key_value)]
    if recipe.with_signature:
        signature = software.sign_digest(recipe.sign_with, digest, recipe.scheme)
        tlvs.append((recipe.signature_tlv, signature))
    tlvs += recipe.extra_unprotected
    area = b"".join(pack_tlv(t, v, "little") for t, v in tlvs)
    return signed + pack_tlv_info(TLV_INFO_MAGIC, 4 + len(area), "little") + area


def verify(data: bytes, trusted: list[PublicKeyTypes] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
    keys = trusted if trusted is not None else [P256.public_key()]
    return verify_mcuboot_image(io.BytesIO(data), keys, **kwargs)  # type: ignore[arg-type]


def unprotected_offset(data: bytes) -> int:
    header_size, protected_size, image_size = struct.unpack("<HHI", data[8:16])
    return header_size + image_size + protected_size


def test_valid_image_reports_version_and_counter() -> None:
    verified = verify(assemble(Recipe()))
    assert str(verified.version) == "1.2.3+4"
    assert verified.security_counter == 9
    assert verified.algorithm is McubootAlgorithm.ECDSA_P256


def test_magic_detection() -> None:
    image = assemble(Recipe())
    assert looks_like_mcuboot_image(image[:4])
    assert not looks_like_mcuboot_image(b"\x7fELF")
    assert not looks_like_mcuboot_image(b"")


@pytest.mark.parametrize("length", [0, 1, 31])
def test_truncated_header(length: int) -> None:
    with pytest.raises(MalformedImageError, match="truncated"):
        verify(assemble(Recipe())[:length])


def test_wrong_magic() -> None:
    image = bytearray(assemble(Recipe()))
    image[0] ^= 0xFF
    with pytest.raises(MalformedImageError, match="not an MCUboot image"):
        verify(bytes(image))


def test_big_endian_image_named_in_error() -> None:
    image = bytearray(assemble(Recipe()))
    image[0:4] = image[0:4][::-1]
    with pytest.raises(MalformedImageError, match="endian=big"):
        verify(bytes(image))


def test_header_size_below_32() -> None:
    image = bytearray(assemble(Recipe()))
    image[8:10] = (16).to_bytes(2, "little")
    with pytest.raises(MalformedImageError, match="less than the 32-byte header"):
        verify(bytes(image))


def test_header_size_mismatch_with_device() -> None:
    image = assemble(Recipe(header_size=64))
    with pytest.raises(MalformedImageError, match="expects 512"):
        verify(image, header_size=512)
    assert verify(image, header_size=64).header_size == 64


def test_image_larger_than_slot() -> None:
    image = assemble(Recipe())
    with pytest.raises(SizeMismatchError, match="slot size"):
        verify(image, max_size=len(image) - 1)
    assert verify(image, max_size=len(image)).signed_size == len(image)


def test_header_claims_more_than_slot_before_reading() -> None:
    image = bytearray(assemble(Recipe()))
    image[12:16] = (0xFFFF_FFF0).to_bytes(4, "little")
    with pytest.raises(SizeMismatchError, match="slot size"):
        verify(bytes(image), max_size=1 << 20)


def test_truncated_payload() -> None:
    with pytest.raises(MalformedImageError, match="truncated"):
        verify(assemble(Recipe())[:100])


def test_truncated_tlv_area() -> None:
    image = assemble(Recipe())
    with pytest.raises(MalformedImageError, match="truncated"):
        verify(image[:-5])


def test_tlv_length_overflows_area() -> None:
    image = bytearray(assemble(Recipe()))
    first_tlv = unprotected_offset(image) + 4
    image[first_tlv + 2 : first_tlv + 4] = (0x4000).to_bytes(2, "little")
    with pytest.raises(MalformedImageError, match=r"only \d+ remain in the area"):
        verify(bytes(image))


def test_tlv_header_cut_by_area_end() -> None:
    image = assemble(Recipe(extra_unprotected=[]))
    start = unprotected_offset(image)
    total = int.from_bytes(image[start + 2 : start + 4], "little")
    patched = bytearray(image[: start + total] + b"\x10\x00")
    patched[start + 2 : start + 4] = (total + 2).to_bytes(2, "little")
    with pytest.raises(MalformedImageError, match="too few for a 4-byte TLV header"):
        verify(bytes(patched))


def test_protected_area_size_mismatch() -> None:
    image = assemble(Recipe(protected_size_override=16))
    with pytest.raises(MalformedImageError, match="protected TLV info records 12 bytes"):
        verify(image)


def test_protected_area_not_in_header() -> None:
    image = assemble(Recipe(protected_size_override=0))
    with pytest.raises(MalformedImageError, match="protected TLV size of 0"):
        verify(image)


def test_unprotected_info_too_small() -> None:
    image = bytearray(assemble(Recipe()))
    start = unprotected_offset(image)
    image[start + 2 : start + 4] = (2).to_bytes(2, "little")
    with pytest.raises(MalformedImageError, match="less than its own 4 bytes"):
        verify(bytes(image))


def test_duplicate_tlv() -> None:
    counter = (9).to_bytes(4, "little")
    image = assemble(Recipe(protected=[(Tlv.SEC_CNT, counter), (Tlv.SEC_CNT, counter)]))
    with pytest.raises(MalformedImageError, match="duplicate TLV 0x50"):
        verify(image)


def test_repeated_dependencies_allowed() -> None:
    first = bytes([1, 0, 0, 0]) + ImageVersion(1, 0, 0, 0).pack("little")
    second = bytes([2, 0, 0, 0]) + ImageVersion(2, 1, 0, 0).pack("little")
    image = assemble(Recipe(protected=[(Tlv.DEPENDENCY, first), (Tlv.DEPENDENCY, second)]))
    verified = verify(image)
    assert [d.image_id for d in verified.dependencies] == [1, 2]


@pytest.mark.parametrize("tlv_type", [0x03, 0x9F, 0xFFFF])
def test_unknown_protected_tlv(tlv_type: int) -> None:
    image = assemble(Recipe(protected=[(tlv_type, b"x")]))
    with pytest.raises(MalformedImageError, match="unknown TLV type"):
        verify(image)


def test_unknown_unprotected_tlv() -> None:
    image = assemble(Recipe(extra_unprotected=[(0x03, b"x")]))
    with pytest.raises(MalformedImageError, match="unknown TLV type 0x0003"):
        verify(image)


@pytest.mark.parametrize("tlv_type", [Tlv.SEC_CNT, Tlv.DEPENDENCY, 0x00A0])
def test_protected_tlv_in_unprotected_area(tlv_type: int) -> None:
    value = bytes(12 if tlv_type == Tlv.DEPENDENCY else 4)
    image = assemble(Recipe(extra_unprotected=[(tlv_type, value)]))
    with pytest.raises(MalformedImageError, match="must be in the protected TLV area"):
        verify(image)


def test_unprotected_tlv_in_protected_area() -> None:
    image = assemble(Recipe(protected=[(Tlv.KEYHASH, bytes(32))]))
    with pytest.raises(MalformedImageError, match="belongs in the unprotected"):
        verify(image)


def test_encrypted_image_unsupported() -> None:
    image = assemble(Recipe(extra_unprotected=[(Tlv.ENC_KW, bytes(24))]))
    with pytest.raises(MalformedImageError, match="does not support"):
        verify(image)


def test_wrong_length_security_counter() -> None:
    image = assemble(Recipe(protected=[(Tlv.SEC_CNT, b"\x01\x02\x03")]))
    with pytest.raises(MalformedImageError, match="is 3 bytes, expected 4"):
        verify(image)


def test_unsigned_image() -> None:
    with pytest.raises(MalformedImageError, match="no signature TLV"):
        verify(assemble(Recipe(with_signature=False)))


def test_key_type_not_matching_trusted_key() -> None:
    image = assemble(Recipe())
    with pytest.raises(UnsupportedKeyError, match="ECDSA_P256"):
        verify(image, trusted=[ED25519.public_key()])


def test_key_type_not_matching_pinned_platform() -> None:
    image = assemble(Recipe())
    with pytest.raises(UnsupportedKeyError, match="cannot check ED25519"):
        verify(image, algorithm=McubootAlgorithm.ED25519)


def test_hash_not_matching_key_type() -> None:
    image = assemble(Recipe(hash_tlv=Tlv.SHA384, scheme=SignatureScheme.ECDSA_SHA384))
    with pytest.raises(UnsupportedKeyError, match="ECDSA_P384"):
        verify(image)


def test_digest_mismatch() -> None:
    image = bytearray(assemble(Recipe()))
    image[40] ^= 0x01
    with pytest.raises(DigestMismatchError, match="changed after signing"):
        verify(bytes(image))


def test_bad_signature_and_unknown_key_differ() -> None:
    image = bytearray(assemble(Recipe()))
    image[-1] ^= 0x01
    with pytest.raises(SignatureMismatchError) as bad_signature:
        verify(bytes(image))
    with pytest.raises(UnknownKeyError) as unknown_key:
        verify(assemble(Recipe(sign_with=OTHER_P256)))
    assert not isinstance(bad_signature.value, UnknownKeyError)
    assert not isinstance(unknown_key.value, SignatureMismatchError)


def test_unknown_full_public_key() -> None:
    image = assemble(Recipe(sign_with=OTHER_P256, key_tlv=Tlv.PUBKEY))
    with pytest.raises(UnknownKeyError, match="public key"):
        verify(image)


def test_picks_named_key_among_several() -> None:
    image = assemble(Recipe(sign_with=OTHER_P256, key_tlv=Tlv.PUBKEY))
    verified = verify(image, trusted=[P256.public_key(), OTHER_P256.public_key()])
    expected = hashlib.sha256(software.public_key_der(OTHER_P256)).hexdigest()
    assert verified.key_fingerprint == expected


def test_rollback_rejected() -> None:
    image = assemble(Recipe())
    with pytest.raises(RollbackError, match="security counter 9, below"):
        verify(image, min_security_counter=10)
    assert verify(image, min_security_counter=9).security_counter == 9


def test_missing_counter_rejected_when_device_has_one() -> None:
    with pytest.raises(RollbackError, match="security counter none"):
        verify(assemble(Recipe(protected=[])), min_security_counter=1)


def test_no_trusted_keys_is_caller_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        verify(assemble(Recipe()), trusted=[])


def test_every_error_is_verification_error() -> None:
    for error in (
        DigestMismatchError,
        MalformedImageError,
        RollbackError,
        SignatureMismatchError,
        SizeMismatchError,
        UnknownKeyError,
        UnsupportedKeyError,
    ):
        assert issubclass(error, VerificationError)


def test_padded_ecdsa_signature_accepted(tmp_path: Path) -> None:
    source = tmp_path / "app.bin"
    source.write_bytes(bytes(range(256)) * 40)
    pem = write_pem(P256, tmp_path / "key.pem")
    target = tmp_path / "padded.bin"
    params = {"version": "1.0.0", "header-size": "32", "pad-header": "true"}
    imgtool_sign(pem, source, target, params, "--pad-sig")
    with target.open("rb") as stream:
        verified = verify_mcuboot_image(stream, [P256.public_key()])
    assert str(verified.version) == "1.0.0+0"


def test_verifies_big_endian_firmseal_image(tmp_path: Path) -> None:
    source = tmp_path / "app.bin"
    source.write_bytes(bytes(range(256)) * 40)
    params = {"version": "1.0.0", "pad-header": "true", "endian": "big", "security-counter": "3"}
    result = sign_with_firmseal(
        "MCUboot-ECDSA-P256", P256, binary_input(source), params, tmp_path / "out"
    )
    with result.files[0].open("rb") as stream:
        verified = verify_mcuboot_image(stream, [P256.public_key()], endian="big")
    assert verified.security_counter == 3
