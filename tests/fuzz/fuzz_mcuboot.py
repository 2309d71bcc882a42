"""Coverage-guided fuzzing of the MCUboot verifier with atheris (run by hand, not in CI).

Any exception other than VerificationError is a bug and stops the run. The corpus starts
from a valid signed image, so mutations reach the TLV parsing and the signature checks.

Usage: .venv/bin/pip install atheris
       .venv/bin/python tests/fuzz/fuzz_mcuboot.py -max_total_time=300 CORPUS_DIR
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from firmseal.device.errors import VerificationError
    from firmseal.device.mcuboot import verify_mcuboot_image
    from firmseal.device.mcuboot_layout import Tlv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from test_mcuboot_verifier import P256, Recipe, assemble

TRUSTED = [P256.public_key()]
SEED = assemble(
    Recipe(
        payload=bytes(range(256)),
        protected=[
            (Tlv.SEC_CNT, (3).to_bytes(4, "little")),
            (Tlv.DEPENDENCY, bytes(12)),
            (0x00A0, b"vendor"),
        ],
    )
)


def test_one_input(data: bytes) -> None:
    with contextlib.suppress(VerificationError):
        verify_mcuboot_image(io.BytesIO(data), TRUSTED, max_size=1 << 20)


def main() -> None:
    corpus = next((Path(arg) for arg in sys.argv[1:] if not arg.startswith("-")), None)
    if corpus is not None:
        corpus.mkdir(parents=True, exist_ok=True)
        (corpus / "seed.bin").write_bytes(SEED)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
