"""MCUboot signing parameters, named after imgtool 2.x's long options of `imgtool sign`.

Each parameter arrives as text (profile parameters overridden by `--param KEY=VALUE`).
Each invalid value raises one InvalidInputError line that names the value and the fix.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import get_args

from firmseal.device.mcuboot_layout import (
    DEFAULT_MAX_ALIGN,
    HEADER_SIZE,
    MAX_TLV_AREA_SIZE,
    VENDOR_TLV_MAX,
    VENDOR_TLV_MIN,
    Endian,
    ImageVersion,
    Tlv,
    vendor_type_is_ambiguous,
)
from firmseal.errors import InvalidInputError

DEFAULT_MAX_SECTORS = 128
ALIGNMENTS = (1, 2, 4, 8, 16, 32)
MAX_ALIGNMENTS = (8, 16, 32)
# PSA attestation limits the software component type in the boot record to 12 characters.
MAX_BOOT_RECORD_TYPE = 12
_UINT32_MAX = 0xFFFFFFFF
_VERSION = re.compile(r"(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\+(0|[1-9]\d*))?)?)?")
_VERSION_LIMITS = (("major", 0xFF), ("minor", 0xFF), ("revision", 0xFFFF), ("build", _UINT32_MAX))
_DEPENDENCY = re.compile(r"\(\s*(\d+)\s*,\s*([0-9.+]+)\s*\)")
_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_UUID_HEX = re.compile(r"[0-9a-fA-F]{32}")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class McubootOptions:
    """Parsed signing parameters. `slot_size` 0 means no slot size was given."""

    version: ImageVersion
    header_size: int = HEADER_SIZE
    pad_header: bool = False
    slot_size: int = 0
    pad: bool = False
    confirm: bool = False
    align: int = 1
    max_align: int = DEFAULT_MAX_ALIGN
    max_sectors: int = DEFAULT_MAX_SECTORS
    security_counter: int | None = None
    dependencies: tuple[tuple[int, ImageVersion], ...] = ()
    load_address: int = 0
    erased_value: int = 0xFF
    full_public_key: bool = False
    endian: Endian = "little"
    boot_record: str | None = None
    vendor_id: bytes | None = None
    class_id: bytes | None = None
    custom_tlvs: tuple[tuple[int, bytes], ...] = ()


def _invalid(name: str, raw: str, expected: str) -> InvalidInputError:
    return InvalidInputError(f"invalid signing parameter {name}={raw!r}; expected {expected}")


def parse_version(raw: str, name: str = "version", whole: str | None = None) -> ImageVersion:
    """Parse MAJOR[.MINOR[.REVISION[+BUILD]]] and check each part fits its header field.

    `whole` is the full parameter value to show in errors when `raw` is a part of it.
    """
    shown = raw if whole is None else whole
    # Spaces are rejected, as imgtool's version pattern rejects them.
    match = _VERSION.fullmatch(raw)
    if match is None:
        raise _invalid(
            name,
            shown,
            "MAJOR.MINOR.REVISION+BUILD with later parts optional and no spaces, e.g. 1.2.3+4",
        )
    parts = [int(group) if group else 0 for group in match.groups()]
    for value, (part, limit) in zip(parts, _VERSION_LIMITS, strict=True):
        if value > limit:
            raise _invalid(name, shown, f"a {part} number from 0 to {limit} in {raw!r}")
    return ImageVersion(*parts)


def _integer(
    name: str,
    raw: str,
    minimum: int = 0,
    maximum: int = _UINT32_MAX,
    whole: str | None = None,
) -> int:
    shown = raw if whole is None else whole
    try:
        value = int(raw.strip(), 0)
    except ValueError:
        raise _invalid(
            name, shown, "an integer (decimal, or with a 0x, 0o or 0b prefix)"
        ) from None
    if not minimum <= value <= maximum:
        raise _invalid(name, shown, f"an integer from {minimum} to {maximum} in {raw.strip()!r}")
    return value


def _boolean(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _invalid(name, raw, "true or false")


def _choice(name: str, raw: str, choices: tuple[int, ...]) -> int:
    value = _integer(name, raw)
    if value not in choices:
        raise _invalid(name, raw, "one of " + ", ".join(str(c) for c in choices))
    return value


def _security_counter(raw: str, version: ImageVersion) -> int:
    if raw.strip().lower() == "auto":
        # imgtool's `auto`: the version's major, minor and revision packed into 32 bits.
        return (version.major << 24) + (version.minor << 16) + version.revision
    return _integer("security-counter", raw)


def parse_dependencies(raw: str) -> tuple[tuple[int, ImageVersion], ...]:
    """Parse imgtool's "(IMAGE_ID,VERSION), ..." list."""
    text = raw.strip()
    matches = list(_DEPENDENCY.finditer(text))
    leftover = _DEPENDENCY.sub("", text).replace(",", "").strip()
    if not matches or leftover:
        raise _invalid(
            "dependencies", raw, '"(IMAGE_ID,VERSION), ..." e.g. "(1,1.2.0),(2,0.9.1+3)"'
        )
    result = []
    for match in matches:
        image_id = _integer("dependencies", match.group(1), maximum=0xFF, whole=raw)
        result.append((image_id, parse_version(match.group(2), "dependencies", whole=raw)))
    return tuple(result)


def parse_uuid(name: str, raw: str, namespace: uuid.UUID | None) -> bytes:
    """Parse a UUID, 32 hex digits, or a name hashed into a UUIDv5 under `namespace`."""
    text = raw.strip()
    if _UUID_TEXT.fullmatch(text) or _UUID_HEX.fullmatch(text):
        return bytes.fromhex(text.replace("-", ""))
    if not text or not text.isprintable():
        raise _invalid(name, raw, "a UUID, 32 hex digits or a printable name")
    if namespace is None:
        raise _invalid(
            name, raw, "a UUID or 32 hex digits, or set vid too so the name is hashed under it"
        )
    return uuid.uuid5(namespace, text).bytes


def parse_custom_tlvs(raw: str, endian: Endian) -> tuple[tuple[int, bytes], ...]:
    """Parse "TAG:VALUE,..." with VALUE as 0x-prefixed hex or UTF-8 text (as imgtool)."""
    result: dict[int, bytes] = {}
    for item in raw.split(","):
        tag_text, sep, value = item.strip().partition(":")
        if not sep:
            raise _invalid(
                "custom-tlv", raw, 'TAG:VALUE pairs separated by commas, e.g. "0xa0:0x0102"'
            )
        tag = _integer("custom-tlv", tag_text, VENDOR_TLV_MIN, VENDOR_TLV_MAX, whole=raw)
        if tag in result:
            raise _invalid("custom-tlv", raw, f"each tag once; 0x{tag:04x} appears twice")
        if tag in set(Tlv) or vendor_type_is_ambiguous(tag, endian):
            raise _invalid(
                "custom-tlv", raw, f"a tag that MCUboot does not define; 0x{tag:04x} clashes"
            )
        result[tag] = _custom_value(raw, value)
    return tuple(result.items())


def _custom_value(raw: str, value: str) -> bytes:
    if not value.startswith("0x"):
        return value.encode()
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise _invalid("custom-tlv", raw, "an even number of hex digits after 0x") from None


def _endian(raw: str) -> Endian:
    text = raw.strip().lower()
    for endian in get_args(Endian):
        if text == endian:
            return endian  # type: ignore[no-any-return]
    raise _invalid("endian", raw, "little or big")


def _erased_value(raw: str) -> int:
    value = _integer("erased-val", raw, maximum=0xFF)
    if value not in (0, 0xFF):
        raise _invalid("erased-val", raw, "0 or 0xff, the value erased flash reads as")
    return value


def _public_key_format(raw: str) -> bool:
    text = raw.strip().lower()
    if text not in ("hash", "full"):
        raise _invalid("public-key-format", raw, "hash (KEYHASH TLV) or full (PUBKEY TLV)")
    return text == "full"


def _boot_record(raw: str) -> str:
    if not raw or len(raw) > MAX_BOOT_RECORD_TYPE:
        raise _invalid(
            "boot-record", raw, f"a software type of 1 to {MAX_BOOT_RECORD_TYPE} characters"
        )
    return raw


_Parser = Callable[[str], object]
_SIMPLE: dict[str, tuple[str, _Parser]] = {
    "header-size": ("header_size", lambda raw: _integer("header-size", raw, HEADER_SIZE, 0xFFFF)),
    "pad-header": ("pad_header", lambda raw: _boolean("pad-header", raw)),
    "slot-size": ("slot_size", lambda raw: _integer("slot-size", raw, 1)),
    "pad": ("pad", lambda raw: _boolean("pad", raw)),
    "confirm": ("confirm", lambda raw: _boolean("confirm", raw)),
    "align": ("align", lambda raw: _choice("align", raw, ALIGNMENTS)),
    "max-align": ("max_align", lambda raw: _choice("max-align", raw, MAX_ALIGNMENTS)),
    "max-sectors": ("max_sectors", lambda raw: _integer("max-sectors", raw, 1, 0xFFFF)),
    "dependencies": ("dependencies", parse_dependencies),
    "load-addr": ("load_address", lambda raw: _integer("load-addr", raw)),
    "erased-val": ("erased_value", _erased_value),
    "public-key-format": ("full_public_key", _public_key_format),
    "boot-record": ("boot_record", _boot_record),
}
# Parameters whose parsing depends on another one: version, endian or vid.
_DEPENDENT = ("version", "security-counter", "endian", "vid", "cid", "custom-tlv")
# NOTE: imgtool's encryption, compression, --pure, --overwrite-only, --test, --rom-fixed,
# --pad-sig and --hex-addr have no parameter here yet, so such images cannot be made.
KNOWN_PARAMETERS = tuple(sorted((*_SIMPLE, *_DEPENDENT)))


def parse_options(params: Mapping[str, str]) -> McubootOptions:
    """Parse and cross-check the signing parameters of one MCUboot signing job."""
    unknown = sorted(set(params) - set(KNOWN_PARAMETERS))
    if unknown:
        raise InvalidInputError(
            f"unknown signing parameter {unknown[0]!r} for MCUboot; known parameters: "
            + ", ".join(KNOWN_PARAMETERS)
        )
    if "version" not in params:
        raise InvalidInputError(
            "missing signing parameter version; set it with --param version=1.2.3 "
            "(MAJOR.MINOR.REVISION+BUILD)"
        )

    version = parse_version(params["version"])
    fields: dict[str, object] = {"version": version}
    for name, (field_name, parser) in _SIMPLE.items():
        if name in params:
            fields[field_name] = parser(params[name])
    if "max-align" not in params:
        # As imgtool: the largest write alignment defaults to 8 or `align` if larger.
        fields["max_align"] = max(DEFAULT_MAX_ALIGN, int(str(fields.get("align", 1))))
    endian = _endian(params.get("endian", "little"))
    fields["endian"] = endian
    if "security-counter" in params:
        fields["security_counter"] = _security_counter(params["security-counter"], version)
    _identifiers(params, fields)
    if "custom-tlv" in params:
        fields["custom_tlvs"] = parse_custom_tlvs(params["custom-tlv"], endian)

    options = McubootOptions(**fields)  # type: ignore[arg-type]
    _cross_check(options)
    return options


def _identifiers(params: Mapping[str, str], fields: dict[str, object]) -> None:
    vendor_id = None
    if "vid" in params:
        vendor_id = parse_uuid("vid", params["vid"], uuid.NAMESPACE_DNS)
        fields["vendor_id"] = vendor_id
    if "cid" in params:
        namespace = uuid.UUID(bytes=vendor_id) if vendor_id is not None else None
        fields["class_id"] = parse_uuid("cid", params["cid"], namespace)


def _cross_check(options: McubootOptions) -> None:
    if (options.pad or options.confirm) and not options.slot_size:
        raise InvalidInputError(
            "signing parameter pad or confirm needs slot-size; set --param slot-size=BYTES "
            "to the size of the image slot"
        )
    if options.max_align < options.align:
        raise InvalidInputError(
            f"invalid signing parameter max-align={options.max_align}; expected at least "
            f"align={options.align}"
        )
    custom = sum(4 + len(value) for _, value in options.custom_tlvs)
    if custom > MAX_TLV_AREA_SIZE // 2:
        raise InvalidInputError(
            f"invalid signing parameter custom-tlv: the values take {custom} bytes; "
            f"expected at most {MAX_TLV_AREA_SIZE // 2} so the protected TLV area fits"
        )
