"""MCUboot signing parameters: defaults, imgtool's syntax, and one clear error per bad value."""

from __future__ import annotations

import uuid

import pytest

from firmseal.device.mcuboot_layout import ImageVersion, McubootAlgorithm, with_article
from firmseal.errors import InvalidInputError
from firmseal.formats.mcuboot import McubootFormat
from firmseal.formats.mcuboot_options import parse_options, parse_version


def test_defaults_match_imgtool() -> None:
    options = parse_options({"version": "1"})
    assert options.version == ImageVersion(1, 0, 0, 0)
    assert options.header_size == 32
    assert options.align == 1
    assert options.max_align == 8
    assert options.max_sectors == 128
    assert options.erased_value == 0xFF
    assert options.endian == "little"
    assert not options.full_public_key
    assert options.security_counter is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", ImageVersion(0, 0, 0, 0)),
        ("1.2", ImageVersion(1, 2, 0, 0)),
        ("1.2.3", ImageVersion(1, 2, 3, 0)),
        ("255.255.65535+4294967295", ImageVersion(255, 255, 65535, 4294967295)),
    ],
)
def test_version_forms(text: str, expected: ImageVersion) -> None:
    assert parse_version(text) == expected


def test_security_counter_auto() -> None:
    options = parse_options({"version": "2.3.4+9", "security-counter": "auto"})
    assert options.security_counter == 0x02030004


def test_large_align_raises_max_align() -> None:
    assert parse_options({"version": "1", "align": "32"}).max_align == 32


def test_dependencies_parsed() -> None:
    options = parse_options({"version": "1", "dependencies": "(1, 1.2.0), (2,0.9.1+3)"})
    assert options.dependencies == ((1, ImageVersion(1, 2, 0, 0)), (2, ImageVersion(0, 9, 1, 3)))


def test_vendor_and_class_ids() -> None:
    options = parse_options({"version": "1", "vid": "example.com", "cid": "app"})
    vendor = uuid.uuid5(uuid.NAMESPACE_DNS, "example.com")
    assert options.vendor_id == vendor.bytes
    assert options.class_id == uuid.uuid5(vendor, "app").bytes
    raw = parse_options({"version": "1", "cid": "00112233-4455-6677-8899-aabbccddeeff"})
    assert raw.class_id == bytes.fromhex("00112233445566778899aabbccddeeff")


def test_custom_tlvs_parsed() -> None:
    options = parse_options({"version": "1", "custom-tlv": "0xa0:0x0102, 0xa1:text"})
    assert options.custom_tlvs == ((0xA0, b"\x01\x02"), (0xA1, b"text"))


BAD_VALUES = [
    ("version", "1.2.3.4", "MAJOR.MINOR.REVISION"),
    ("version", "256.0.0", "major number from 0 to 255"),
    ("version", "1.256", "minor number from 0 to 255"),
    ("version", "1.0.65536", "revision number from 0 to 65535"),
    ("version", "1.0.0+4294967296", "build number from 0 to 4294967295"),
    ("version", "01.0", "MAJOR.MINOR.REVISION"),
    ("version", "1.2.3 ", "and no spaces"),
    ("version", " 1.2.3", "and no spaces"),
    ("version", "1.2.3\n", "and no spaces"),
    ("version", "1. 2", "and no spaces"),
    ("header-size", "16", "from 32 to 65535"),
    ("header-size", "0x10000", "from 32 to 65535"),
    ("header-size", "big", "an integer"),
    ("pad-header", "maybe", "true or false"),
    ("slot-size", "0", "from 1 to"),
    ("align", "3", "one of 1, 2, 4, 8, 16, 32"),
    ("max-align", "4", "one of 8, 16, 32"),
    ("max-sectors", "0", "from 1 to 65535"),
    ("security-counter", "-1", "from 0 to 4294967295"),
    ("security-counter", "0x100000000", "from 0 to 4294967295"),
    ("security-counter", "next", "an integer"),
    ("dependencies", "1,1.0.0", "(IMAGE_ID,VERSION)"),
    ("dependencies", "(256,1.0.0)", "from 0 to 255"),
    ("dependencies", "(1,1.0.0) junk", "(IMAGE_ID,VERSION)"),
    ("dependencies", "(1,300.0.0)", "major number"),
    ("load-addr", "0x100000000", "from 0 to 4294967295"),
    ("erased-val", "0x7f", "0 or 0xff"),
    ("public-key-format", "pem", "hash (KEYHASH TLV) or full"),
    ("endian", "middle", "little or big"),
    ("boot-record", "a-very-long-type", "1 to 12 characters"),
    ("cid", "app", "set vid too"),
    ("vid", "\x00", "printable name"),
    ("custom-tlv", "0xa0", "TAG:VALUE"),
    ("custom-tlv", "0x10:0x01", "from 160 to 65534"),
    ("custom-tlv", "0xa0:0x0,0xa1:x", "even number of hex digits"),
    ("custom-tlv", "0xa0:x,0xa0:y", "each tag once"),
]


@pytest.mark.parametrize(("name", "value", "fix"), BAD_VALUES)
def test_bad_value_names_value_and_fix(name: str, value: str, fix: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_options({"version": "1.0.0", name: value} if name != "version" else {name: value})
    message = str(raised.value)
    assert "\n" not in message
    assert f"{name}={value!r}" in message
    assert fix in message


def test_missing_version() -> None:
    with pytest.raises(InvalidInputError, match="missing signing parameter version"):
        parse_options({})


def test_unknown_parameter() -> None:
    with pytest.raises(InvalidInputError, match="unknown signing parameter 'slotsize'"):
        parse_options({"version": "1", "slotsize": "4096"})


def test_pad_needs_slot_size() -> None:
    with pytest.raises(InvalidInputError, match="needs slot-size"):
        parse_options({"version": "1", "confirm": "true"})


def test_max_align_below_align() -> None:
    with pytest.raises(InvalidInputError, match="expected at least align=16"):
        parse_options({"version": "1", "align": "16", "max-align": "8"})


def test_big_endian_vendor_tag_that_reads_as_standard() -> None:
    with pytest.raises(InvalidInputError, match="0x1000 clashes"):
        parse_options({"version": "1", "endian": "big", "custom-tlv": "0x1000:0x01"})


def test_version_with_space_rejected() -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_options({"version": "1.2.3 "})
    assert str(raised.value) == (
        "invalid signing parameter version='1.2.3 '; expected MAJOR.MINOR.REVISION+BUILD with "
        "later parts optional and no spaces, e.g. 1.2.3+4"
    )


# Minimum slot sizes with the default trailer (128 sectors, align 1, max-align 8: 432 bytes):
# header + TLV info (4) + hash TLV + key hash TLV + shortest signature TLV + trailer.
SLOT_MINIMUMS = [
    (McubootAlgorithm.ECDSA_P256, 32 + 4 + 36 + 36 + 12 + 432),
    (McubootAlgorithm.ECDSA_P384, 32 + 4 + 52 + 52 + 12 + 432),
    (McubootAlgorithm.ED25519, 32 + 4 + 36 + 36 + 68 + 432),
    (McubootAlgorithm.RSA_2048, 32 + 4 + 36 + 36 + 260 + 432),
    (McubootAlgorithm.RSA_3072, 32 + 4 + 36 + 36 + 388 + 432),
]


@pytest.mark.parametrize(("algorithm", "minimum"), SLOT_MINIMUMS)
def test_slot_capacity_boundary(algorithm: McubootAlgorithm, minimum: int) -> None:
    image_format = McubootFormat(algorithm)
    image_format.validate_params({"slot-size": str(minimum)})
    with pytest.raises(InvalidInputError, match=f"need at least {minimum} bytes"):
        image_format.validate_params({"slot-size": str(minimum - 1)})


def test_slot_smaller_than_header_rejected() -> None:
    image_format = McubootFormat(McubootAlgorithm.ECDSA_P256)
    params = {"slot-size": "0x20", "header-size": "0x200"}
    with pytest.raises(InvalidInputError) as raised:
        image_format.validate_params(params)
    assert str(raised.value) == (
        "invalid signing parameter slot-size=32 (0x20): no image fits, because "
        "header-size=512 (0x200), at least 88 bytes of TLVs and the 432-byte boot trailer "
        "need at least 1032 bytes; raise slot-size, or lower header-size or max-sectors"
    )
    with pytest.raises(InvalidInputError, match=r"slot-size=32 \(0x20\): no image fits"):
        image_format.validate_job_params({"version": "1.0.0", **params})


def test_slot_capacity_counts_protected_tlvs() -> None:
    image_format = McubootFormat(McubootAlgorithm.ED25519)
    minimum = SLOT_MINIMUMS[2][1]
    # The security counter adds a protected area of 4 + (4 + 4) bytes.
    with pytest.raises(InvalidInputError, match=f"at least {12 + 144} bytes of TLVs"):
        image_format.validate_params({"slot-size": str(minimum), "security-counter": "1"})
    image_format.validate_params({"slot-size": str(minimum + 12), "security-counter": "1"})


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("ECC_NIST_P256", "an ECC_NIST_P256"),
        ("RSA 2048-bit key", "an RSA 2048-bit key"),
        ("Ed448 key", "an Ed448 key"),
        ("X25519 key", "an X25519 key"),
        ("DSA key", "a DSA key"),
    ],
)
def test_key_article(phrase: str, expected: str) -> None:
    assert with_article(phrase) == expected
