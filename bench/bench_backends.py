"""Measure signatures per second for each key backend and key type.

Each backend signs the same digests as an in-process `cryptography` key of the same type, in
the same run. The table so shows the cost of custody (encrypted key files, a PKCS#11 module,
an HTTP round trip) beside the cost of the mathematics.

Run: .venv/bin/python bench/bench_backends.py [--seconds S]

The pkcs11 rows use a fresh SoftHSM2 token in a temporary folder, and the aws-kms rows use
moto's server on 127.0.0.1 started by the test helper in tests/backends/kms_endpoint.py, so
they measure a local HTTP round trip, not AWS KMS itself.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from backends.kms_endpoint import digest_aware_moto  # noqa: E402
from firmseal.kms import software  # noqa: E402
from firmseal.kms.aws_kms import AwsKmsBackend  # noqa: E402
from firmseal.kms.aws_kms_config import AwsKmsConfig  # noqa: E402
from firmseal.kms.base import KeyBackend, KeySpec, SignatureScheme  # noqa: E402
from firmseal.kms.local import LocalKeyStore  # noqa: E402
from firmseal.kms.pkcs11 import Pkcs11Backend  # noqa: E402
from firmseal.kms.pkcs11_config import Pkcs11Config  # noqa: E402
from firmseal.kms.secret import Secret  # noqa: E402

SCHEMES = {
    KeySpec.ECC_NIST_P256: SignatureScheme.ECDSA_SHA256,
    KeySpec.ECC_NIST_P384: SignatureScheme.ECDSA_SHA384,
    KeySpec.ED25519: SignatureScheme.ED25519,
    KeySpec.RSA_2048: SignatureScheme.RSA_PSS_SHA256,
    KeySpec.RSA_3072: SignatureScheme.RSA_PSS_SHA256,
}
KMS_SPECS = (KeySpec.ECC_NIST_P256, KeySpec.ECC_NIST_P384, KeySpec.RSA_2048, KeySpec.RSA_3072)
DIGESTS = 64
MIN_SIGNATURES = 20
SOFTHSM_MODULES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
)


@dataclass
class Row:
    backend: str
    spec: KeySpec
    scheme: SignatureScheme
    per_second: float
    reference_per_second: float


def rate(sign: Callable[[bytes], bytes], digests: list[bytes], seconds: float) -> float:
    """Return signatures per second, signing for at least `seconds` after one warm-up."""
    sign(digests[0])
    count = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds or count < MIN_SIGNATURES:
        sign(digests[count % len(digests)])
        count += 1
        elapsed = time.perf_counter() - start
    return count / elapsed


def reference_rate(spec: KeySpec, digests: list[bytes], seconds: float) -> float:
    key = software.generate_private_key(spec)
    scheme = SCHEMES[spec]
    return rate(lambda digest: software.sign_digest(key, digest, scheme), digests, seconds)


def backend_rate(
    backend: KeyBackend, spec: KeySpec, digests: list[bytes], seconds: float
) -> float:
    uri = backend.create_key(spec).uri
    scheme = SCHEMES[spec]
    return rate(lambda digest: backend.sign_digest(uri, digest, scheme), digests, seconds)


def measure(
    backend: KeyBackend, name: str, specs: tuple[KeySpec, ...], seconds: float
) -> list[Row]:
    rows = []
    for spec in specs:
        scheme = SCHEMES[spec]
        digests = [
            hashlib.new(software.hash_of(scheme).name, os.urandom(64)).digest()
            for _ in range(DIGESTS)
        ]
        measured = backend_rate(backend, spec, digests, seconds)
        reference = reference_rate(spec, digests, seconds)
        rows.append(Row(name, spec, scheme, measured, reference))
        print(f"{name:8} {spec:14} {measured:10.1f}/s", file=sys.stderr)
    return rows


@contextmanager
def softhsm_backend(folder: Path) -> Iterator[Pkcs11Backend]:
    module = next((path for path in SOFTHSM_MODULES if path.is_file()), None)
    if module is None or shutil.which("softhsm2-util") is None:
        raise SystemExit("SoftHSM2 is missing; run `apt-get install -y softhsm2`")
    (folder / "tokens").mkdir()
    config_file = folder / "softhsm2.conf"
    config_file.write_text(f"directories.tokendir = {folder / 'tokens'}\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(config_file)
    pin = secrets.token_hex(8)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            pin,
            "--so-pin",
            secrets.token_hex(8),
        ],
        check=True,
        capture_output=True,
    )
    yield Pkcs11Backend(Pkcs11Config(module, "bench", Secret(pin)))


def machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    softhsm = subprocess.run(
        ["softhsm2-util", "--version"], capture_output=True, text=True, check=False
    )
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False)
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("cryptography", "python-pkcs11", "boto3", "botocore", "moto")
    )
    return [
        f"- CPUs (nproc): {os.cpu_count()}, {cpu}",
        f"- RAM: {memory_kib / 1024 / 1024:.1f} GiB",
        f"- Python {platform.python_version()} on {platform.platform()}",
        f"- {versions}",
        f"- SoftHSM {softhsm.stdout.strip()}, {openssl.stdout.strip()}",
    ]


def markdown(rows: list[Row], seconds: float) -> str:
    lines = [
        f"Signatures per second from one thread, each figure over at least {seconds:g} s and "
        f"{MIN_SIGNATURES} signatures after one warm-up signature.",
        "",
        "| backend | key spec | scheme | backend sig/s | cryptography in-process sig/s | "
        "backend / in-process |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.backend} | {row.spec} | {row.scheme} | {row.per_second:,.0f} | "
            f"{row.reference_per_second:,.0f} | {row.per_second / row.reference_per_second:.2f} |"
        )
    return "\n".join([*lines, "", *machine()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="minimum signing time per figure, in seconds"
    )
    arguments = parser.parse_args()
    seconds = arguments.seconds
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    rows: list[Row] = []
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firmseal-bench-")))
        (folder / "keys").mkdir()
        local = LocalKeyStore(folder / "keys", os.urandom(32))
        rows += measure(local, "local", tuple(SCHEMES), seconds)
        (folder / "softhsm").mkdir()
        hsm = stack.enter_context(softhsm_backend(folder / "softhsm"))
        rows += measure(hsm, "pkcs11", tuple(SCHEMES), seconds)
        url = stack.enter_context(digest_aware_moto())
        kms = AwsKmsBackend(AwsKmsConfig(region="us-east-1", endpoint_url=url))
        rows += measure(kms, "aws-kms", KMS_SPECS, seconds)
    print(markdown(rows, seconds))


if __name__ == "__main__":
    main()
