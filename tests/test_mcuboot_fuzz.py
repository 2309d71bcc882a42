"""Property tests: the MCUboot verifier raises VerificationError on any input, never crashes.

Hypothesis feeds random bytes, images with a valid header and random TLV areas, and
mutations of real signed images. Each run either verifies or raises a VerificationError.
"""

from __future__ import annotations

import contextlib
import io
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmseal.device.errors import VerificationError
from firmseal.device.mcuboot import verify_mcuboot_image
from firmseal.device.mcuboot_layout import IMAGE_MAGIC, Tlv
from firmseal.kms import software
from firmseal.kms.base import KeySpec
from test_mcuboot_verifier import Recipe, assemble

P256 = software.generate_private_key(KeySpec.ECC_NIST_P256)
RSA = software.generate_private_key(KeySpec.RSA_2048)
TRUSTED = [P256.public_key(), RSA.public_key()]
VALID = assemble(
    Recipe(
        payload=b"\xa5" * 300,
        sign_with=P256,
        protected=[
            (Tlv.SEC_CNT, (3).to_bytes(4, "little")),
            (Tlv.DEPENDENCY, bytes(12)),
            (0x00A0, b"vendor"),
        ],
    )
)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes, max_size: int | None = None) -> None:
    with contextlib.suppress(VerificationError):
        verify_mcuboot_image(io.BytesIO(data), TRUSTED, max_size=max_size)


def test_valid_image_verifies() -> None:
    assert verify_mcuboot_image(io.BytesIO(VALID), TRUSTED).security_counter == 3


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    check(data)
    check(struct.pack("<I", IMAGE_MAGIC) + data)


@FUZZ
@given(
    header_size=st.integers(0, 0xFFFF),
    protected_size=st.integers(0, 0xFFFF),
    image_size=st.integers(0, 512),
    tail=st.binary(max_size=1024),
)
def test_valid_header_random_areas(
    header_size: int, protected_size: int, image_size: int, tail: bytes
) -> None:
    header = struct.pack(
        "<IIHHIIBBHII", IMAGE_MAGIC, 0, header_size, protected_size, image_size, 0, 1, 0, 0, 0, 0
    )
    check(header + tail, max_size=1 << 16)


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=4
    ),
    st.integers(0, len(VALID)),
)
def test_mutated_image(changes: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID)
    for position, value in changes:
        data[position] = value
    check(bytes(data))
    check(bytes(data[:cut]))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=6))
def test_random_protected_tlvs(tlvs: list[tuple[int, bytes]]) -> None:
    check(assemble(Recipe(payload=b"\x00" * 64, sign_with=P256, protected=tlvs)))
