"""Interoperability with imgtool 2.x in both directions, on every MCUboot platform.

For each platform and set of signing parameters, firmseal and `imgtool sign` sign the same
input with the same key. `imgtool verify` must accept firmseal's image, firmseal's device
verifier must accept imgtool's, and the bytes must match up to the signature TLV. Ed25519
signatures are deterministic, so those images must match to the last byte.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from intelhex import IntelHex

from firmseal.device.mcuboot import verify_mcuboot_image
from firmseal.device.mcuboot_layout import McubootAlgorithm
from firmseal.errors import InvalidInputError
from firmseal.formats.base import SignContext
from firmseal.formats.mcuboot_external import attach_signature, export_digest
from firmseal.kms import software
from mcuboot_support import (
    ASSET_FIRMWARE,
    PLATFORM_IDS,
    binary_input,
    flat_bytes,
    hex_input,
    imgtool_sign,
    imgtool_sign_args,
    imgtool_verify,
    new_key,
    platform,
    run_imgtool,
    sign_with_firmseal,
    split_signed,
    write_pem,
    write_public_pem,
)

OPTION_SETS: dict[str, dict[str, str]] = {
    "basic": {
        "version": "1.2.3+4",
        "header-size": "0x200",
        "pad-header": "true",
        "slot-size": "0x40000",
        "security-counter": "auto",
    },
    "padded-confirmed": {
        "version": "2.0.1",
        "header-size": "0x100",
        "pad-header": "true",
        "slot-size": "0x20000",
        "confirm": "true",
        "align": "4",
        "max-sectors": "32",
    },
    "all-protected-tlvs": {
        "version": "0.9.0+77",
        "header-size": "64",
        "slot-size": "0x40000",
        "public-key-format": "full",
        "dependencies": "(1,1.2.0),(2,0.9.1+3)",
        "load-addr": "0x20000000",
        "boot-record": "SPE",
        "vid": "example.com",
        "cid": "sensor-app",
        "custom-tlv": "0xa0:0x0102aabb,0x1234:hello",
        "security-counter": "7",
        "erased-val": "0",
    },
    "large-align-padded": {
        "version": "1.0.0",
        "header-size": "0x200",
        "pad-header": "true",
        "slot-size": "0x40000",
        "pad": "true",
        "align": "16",
        "max-sectors": "16",
    },
    "max-align-32": {
        "version": "3.1.4+1",
        "header-size": "0x200",
        "pad-header": "true",
        "slot-size": "0x40000",
        "confirm": "true",
        "align": "8",
        "max-align": "32",
    },
    "big-endian": {
        "version": "1.2.3",
        "header-size": "0x200",
        "pad-header": "true",
        "slot-size": "0x40000",
        "endian": "big",
        "security-counter": "5",
        "dependencies": "(1,1.0.0)",
        "custom-tlv": "0xa0:0x01",
    },
}
_SEED = 20261204
HEX_BASE = 0x0800_0000

Signed = tuple[Path, Path]


@pytest.fixture(scope="module")
def keys() -> dict[str, software.SigningKey]:
    return {platform_id: new_key(platform_id) for platform_id in PLATFORM_IDS}


@pytest.fixture(scope="module")
def pems(
    keys: dict[str, software.SigningKey], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {pid: write_pem(key, folder / f"{pid}.pem") for pid, key in keys.items()}


def payload(size: int, zero_header: int = 0) -> bytes:
    return bytes(zero_header) + random.Random(_SEED + size).randbytes(size)


def source_for(option_set: str, folder: Path) -> Path:
    params = OPTION_SETS[option_set]
    header = 0 if params.get("pad-header") == "true" else int(params["header-size"], 0)
    path = folder / "app.bin"
    path.write_bytes(payload(40_000, header))
    return path


@pytest.fixture(scope="module")
def signed_pair(
    keys: dict[str, software.SigningKey],
    pems: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, str], Signed]:
    """Return (firmseal image, imgtool image) for a platform and option set, signed once."""
    cache: dict[tuple[str, str], Signed] = {}

    def sign(platform_id: str, option_set: str) -> Signed:
        if (platform_id, option_set) not in cache:
            folder = tmp_path_factory.mktemp(f"{platform_id}-{option_set}")
            source = source_for(option_set, folder)
            params = OPTION_SETS[option_set]
            ours = sign_with_firmseal(
                platform_id, keys[platform_id], binary_input(source), params, folder / "out"
            ).files[0]
            theirs = folder / "imgtool.signed.bin"
            imgtool_sign(pems[platform_id], source, theirs, params)
            cache[platform_id, option_set] = (ours, theirs)
        return cache[platform_id, option_set]

    return sign


def assert_same_up_to_signature(ours: bytes, theirs: bytes, endian: str = "little") -> None:
    mine, reference = split_signed(ours, endian), split_signed(theirs, endian)
    assert mine.before_unprotected == reference.before_unprotected
    assert mine.unprotected_magic == reference.unprotected_magic
    assert mine.unsigned_tlvs == reference.unsigned_tlvs
    assert mine.signature_type == reference.signature_type
    # ECDSA signatures vary in length, which moves the slot padding but not the trailer.
    signature_growth = len(mine.signature) - len(reference.signature)
    assert len(ours) - len(theirs) in (0, signature_growth)
    shorter = min(len(mine.after), len(reference.after))
    assert (
        mine.after[len(mine.after) - shorter :]
        == reference.after[len(reference.after) - shorter :]
    )


LITTLE_ENDIAN_SETS = [name for name in OPTION_SETS if name != "big-endian"]


@pytest.mark.parametrize("option_set", LITTLE_ENDIAN_SETS)
@pytest.mark.parametrize("platform_id", PLATFORM_IDS)
def test_imgtool_verifies_firmseal_image(
    platform_id: str,
    option_set: str,
    signed_pair: Callable[[str, str], Signed],
    pems: dict[str, Path],
) -> None:
    ours, _ = signed_pair(platform_id, option_set)
    result = imgtool_verify(pems[platform_id], ours)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Image was correctly validated" in result.stdout
    assert f"Image version: {OPTION_SETS[option_set]['version'].split('+')[0]}" in result.stdout


@pytest.mark.parametrize("option_set", list(OPTION_SETS))
@pytest.mark.parametrize("platform_id", PLATFORM_IDS)
def test_firmseal_verifies_imgtool_image(
    platform_id: str,
    option_set: str,
    signed_pair: Callable[[str, str], Signed],
    keys: dict[str, software.SigningKey],
) -> None:
    _, theirs = signed_pair(platform_id, option_set)
    params = OPTION_SETS[option_set]
    endian = params.get("endian", "little")
    with theirs.open("rb") as stream:
        verified = verify_mcuboot_image(
            stream,
            [keys[platform_id].public_key()],
            endian=endian,  # type: ignore[arg-type]
            max_size=int(params["slot-size"], 0),
        )
    version = params["version"]
    assert str(verified.version).startswith(version if "+" in version else version + "+")
    assert verified.algorithm is _ALGORITHMS[platform_id]
    assert verified.header_size == int(params["header-size"], 0)


_ALGORITHMS = {
    "MCUboot-ECDSA-P256": McubootAlgorithm.ECDSA_P256,
    "MCUboot-ECDSA-P384": McubootAlgorithm.ECDSA_P384,
    "MCUboot-Ed25519": McubootAlgorithm.ED25519,
    "MCUboot-RSA-2048-PSS": McubootAlgorithm.RSA_2048,
    "MCUboot-RSA-3072-PSS": McubootAlgorithm.RSA_3072,
}


@pytest.mark.parametrize("option_set", list(OPTION_SETS))
@pytest.mark.parametrize("platform_id", PLATFORM_IDS)
def test_bytes_match_imgtool_up_to_signature(
    platform_id: str, option_set: str, signed_pair: Callable[[str, str], Signed]
) -> None:
    ours, theirs = signed_pair(platform_id, option_set)
    endian = OPTION_SETS[option_set].get("endian", "little")
    assert_same_up_to_signature(ours.read_bytes(), theirs.read_bytes(), endian)


@pytest.mark.parametrize("option_set", list(OPTION_SETS))
def test_ed25519_image_identical_to_imgtool(
    option_set: str, signed_pair: Callable[[str, str], Signed]
) -> None:
    ours, theirs = signed_pair("MCUboot-Ed25519", option_set)
    assert ours.read_bytes() == theirs.read_bytes()


def test_security_counter_auto_packs_version(
    signed_pair: Callable[[str, str], Signed], keys: dict[str, software.SigningKey]
) -> None:
    ours, _ = signed_pair("MCUboot-ECDSA-P256", "basic")
    with ours.open("rb") as stream:
        verified = verify_mcuboot_image(stream, [keys["MCUboot-ECDSA-P256"].public_key()])
    assert verified.security_counter == (1 << 24) + (2 << 16) + 3
    assert str(verified.version) == "1.2.3+4"


def test_protected_tlvs_read_back(
    signed_pair: Callable[[str, str], Signed], keys: dict[str, software.SigningKey]
) -> None:
    ours, _ = signed_pair("MCUboot-RSA-2048-PSS", "all-protected-tlvs")
    with ours.open("rb") as stream:
        verified = verify_mcuboot_image(stream, [keys["MCUboot-RSA-2048-PSS"].public_key()])
    assert verified.security_counter == 7
    assert [(d.image_id, str(d.min_version)) for d in verified.dependencies] == [
        (1, "1.2.0+0"),
        (2, "0.9.1+3"),
    ]
    assert verified.load_address == 0x20000000
    assert verified.flags == 0x20
    assert verified.vendor_id is not None
    assert verified.class_id is not None


def write_hex_source(folder: Path, size: int) -> Path:
    # Over 64 KiB, so the output needs extended linear address records.
    ih = IntelHex()
    ih.frombytes(payload(size), offset=HEX_BASE)
    path = folder / "app.hex"
    ih.tofile(str(path), "hex")
    return path


@pytest.mark.parametrize("option_set", ["basic", "padded-confirmed"])
@pytest.mark.parametrize("platform_id", PLATFORM_IDS)
def test_intel_hex_interop(
    platform_id: str,
    option_set: str,
    keys: dict[str, software.SigningKey],
    pems: dict[str, Path],
    tmp_path: Path,
) -> None:
    params = OPTION_SETS[option_set] | {"slot-size": "0x40000"}
    source = write_hex_source(tmp_path, 70_000)
    result = sign_with_firmseal(
        platform_id, keys[platform_id], hex_input(source, tmp_path), params, tmp_path / "out"
    )
    ours = result.files[0]
    assert ours.name == "app.signed.hex"
    theirs = tmp_path / "imgtool.signed.hex"
    imgtool_sign(pems[platform_id], source, theirs, params)

    verified = imgtool_verify(pems[platform_id], ours)
    assert verified.returncode == 0, verified.stdout
    assert_same_up_to_signature(flat_bytes(ours), flat_bytes(theirs))
    with (tmp_path / "imgtool.signed.hex.flat").open("rb") as stream:
        verify_mcuboot_image(stream, [keys[platform_id].public_key()])
    if platform_id == "MCUboot-Ed25519":
        assert ours.read_text() == theirs.read_text()


@pytest.mark.parametrize("platform_id", PLATFORM_IDS)
def test_external_signing_matches_imgtool(
    platform_id: str,
    keys: dict[str, software.SigningKey],
    pems: dict[str, Path],
    tmp_path: Path,
) -> None:
    params = OPTION_SETS["padded-confirmed"]
    source = source_for("padded-confirmed", tmp_path)
    key = keys[platform_id]
    public_der = software.public_key_der(key)
    algorithm = _ALGORITHMS[platform_id]
    context = SignContext(tmp_path, params, "external")

    image = binary_input(source)
    with image.first_pass:
        digest = export_digest(image, public_der, algorithm, context)
    reference_digest = tmp_path / "digest.bin"
    imgtool_sign(pems[platform_id], source, reference_digest, params, "--vector-to-sign", "digest")
    # imgtool pads even the exported digest to the slot when confirm is set.
    assert digest == reference_digest.read_bytes()[: len(digest)]

    signature = software.sign_digest(key, digest, platform(platform_id).scheme)
    image = binary_input(source)
    with image.first_pass:
        ours = attach_signature(image, public_der, signature, algorithm, context).files[0]
    assert imgtool_verify(pems[platform_id], ours).returncode == 0

    signature_file = tmp_path / "signature.b64"
    signature_file.write_bytes(base64.b64encode(signature))
    public_pem = write_public_pem(key, tmp_path / "public.pem")
    theirs = tmp_path / "fixed.signed.bin"
    result = run_imgtool(
        "sign",
        *imgtool_sign_args(params),
        "--fix-sig",
        str(signature_file),
        "--fix-sig-pubkey",
        str(public_pem),
        str(source),
        str(theirs),
    )
    assert result.returncode == 0, result.stderr
    assert ours.read_bytes() == theirs.read_bytes()


def test_attach_rejects_signature_over_other_image(
    keys: dict[str, software.SigningKey], tmp_path: Path
) -> None:
    platform_id = "MCUboot-ECDSA-P256"
    key = keys[platform_id]
    params = OPTION_SETS["basic"]
    source = source_for("basic", tmp_path)
    wrong = software.sign_digest(key, bytes(32), platform(platform_id).scheme)
    image = binary_input(source)
    with image.first_pass, pytest.raises(InvalidInputError, match="does not verify"):
        attach_signature(
            image,
            software.public_key_der(key),
            wrong,
            McubootAlgorithm.ECDSA_P256,
            SignContext(tmp_path, params, "external"),
        )
    assert not (tmp_path / "app.signed.bin").exists()


def test_attach_accepts_raw_ecdsa_signature(
    keys: dict[str, software.SigningKey], pems: dict[str, Path], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    platform_id = "MCUboot-ECDSA-P384"
    key = keys[platform_id]
    params = OPTION_SETS["basic"]
    source = source_for("basic", tmp_path)
    context = SignContext(tmp_path, params, "external")
    public_der = software.public_key_der(key)
    image = binary_input(source)
    with image.first_pass:
        digest = export_digest(image, public_der, McubootAlgorithm.ECDSA_P384, context)
    r, s = decode_dss_signature(software.sign_digest(key, digest, platform(platform_id).scheme))
    raw = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    image = binary_input(source)
    with image.first_pass:
        ours = attach_signature(image, public_der, raw, McubootAlgorithm.ECDSA_P384, context)
    assert imgtool_verify(pems[platform_id], ours.files[0]).returncode == 0


@pytest.mark.parametrize("platform_id", PLATFORM_IDS)
def test_real_firmware_interop(
    platform_id: str,
    keys: dict[str, software.SigningKey],
    pems: dict[str, Path],
    tmp_path: Path,
) -> None:
    source = tmp_path / "htc_9271.bin"
    source.write_bytes(ASSET_FIRMWARE.read_bytes())
    params = OPTION_SETS["padded-confirmed"]
    ours = sign_with_firmseal(
        platform_id, keys[platform_id], binary_input(source), params, tmp_path / "out"
    ).files[0]
    theirs = tmp_path / "imgtool.bin"
    imgtool_sign(pems[platform_id], source, theirs, params)
    assert imgtool_verify(pems[platform_id], ours).returncode == 0
    assert_same_up_to_signature(ours.read_bytes(), theirs.read_bytes())
