"""Time `firmseal sign` against `imgtool sign` on MCUboot images, binary and Intel HEX.

Both run as child processes in the same run, on the same random images and the same
ECDSA P-256 key, with the same options (version, 0x200-byte header prepended, slot size
twice the image). Wall time comes from time.perf_counter around the child. GNU time
reports the child's peak resident set size and its CPU time (user plus system), which
other load on the machine disturbs less than wall time.
firmseal-cli runs the real CLI: a signing job under a profile in a fresh workspace, which
also stores the source object; and
firmseal-lib runs bench/mcuboot_sign_one.py, the MCUboot format alone with the PEM key,
which is the work imgtool does.

Usage: .venv/bin/python bench/bench_mcuboot.py [--sizes 1,16] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from firmseal.formats.intelhex_writer import IntelHexWriter

MIB = 1024 * 1024
BIN_DIR = Path(sys.executable).parent
HEX_BASE = 0x0800_0000
TIME = "/usr/bin/time"  # GNU time, Debian package `time`


@dataclass(frozen=True)
class Sample:
    tool: str
    form: str
    size_mib: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run one command; return (wall s, user+system CPU s, peak RSS MiB) or raise.

    The command runs under /usr/bin/time, whose own small process is what gets forked.
    Linux carries the forked process's peak RSS over exec, so forking this benchmark
    directly would add its own RSS (it has just held the test image) to the child's.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        start = time.perf_counter()
        result = subprocess.run(
            [TIME, "-f", "%M %U %S", "-o", report.name, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.decode()}")
        peak_kib, user, system = report.read().split()[-3:]
    return wall, float(user) + float(system), int(peak_kib) / 1024


def write_inputs(folder: Path, size: int) -> dict[str, Path]:
    data = os.urandom(size)
    binary = folder / f"app{size // MIB}.bin"
    binary.write_bytes(data)
    hex_path = folder / f"app{size // MIB}.hex"
    with hex_path.open("wb") as out:
        writer = IntelHexWriter(out, HEX_BASE + size - 1)
        for offset in range(0, size, MIB):
            writer.write(HEX_BASE + offset, data[offset : offset + MIB])
        writer.close()
    return {"bin": binary, "hex": hex_path}


def write_key(folder: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = folder / "bench-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def firmseal_workspace(folder: Path, key_pem: Path, slot_size: int) -> dict[str, str]:
    """Create a workspace and a profile; the key is created inside the key store."""
    env = dict(os.environ, FIRMSEAL_HOME=str(folder / "home"))
    firmseal = str(BIN_DIR / "firmseal")

    def run(*args: str) -> None:
        subprocess.run([firmseal, *args], env=env, check=True, capture_output=True)

    run("init")
    run("key", "create", "bench", "--spec", "ECC_NIST_P256")
    run(
        "profile", "put", "bench", "--platform", "MCUboot-ECDSA-P256", "--key", "bench",
        "--param", "header-size=0x200", "--param", "pad-header=true",
        "--param", f"slot-size={slot_size}",
    )  # fmt: skip
    del key_pem  # imgtool gets the PEM; firmseal signs with a key it created itself
    return env


def measure(folder: Path, size_mib: int, repeat: int, key_pem: Path) -> list[Sample]:
    size = size_mib * MIB
    slot_size = 2 * size
    inputs = write_inputs(folder, size)
    env = firmseal_workspace(folder / f"ws{size_mib}", key_pem, slot_size)
    out_dir = folder / "out"
    out_dir.mkdir(exist_ok=True)
    samples = []
    for form, source in inputs.items():
        commands = {
            "imgtool": [
                str(BIN_DIR / "imgtool"), "sign", "-k", str(key_pem), "-v", "1.0.0",
                "-H", "0x200", "--pad-header", "-S", str(slot_size),
                str(source), str(out_dir / f"imgtool.signed.{form}"),
            ],
            "firmseal-cli": [
                str(BIN_DIR / "firmseal"), "sign", "--profile", "bench", str(source),
                "--out-dir", str(out_dir), "--param", "version=1.0.0",
            ],
            "firmseal-lib": [
                sys.executable, str(Path(__file__).with_name("mcuboot_sign_one.py")),
                str(key_pem), str(source), str(out_dir), "version=1.0.0",
                "header-size=0x200", "pad-header=true", f"slot-size={slot_size}",
            ],
        }  # fmt: skip
        for tool, args in commands.items():
            runs = [run_child(args, env) for _ in range(repeat)]
            samples.append(
                Sample(
                    tool=tool,
                    form=form,
                    size_mib=size_mib,
                    wall_seconds=statistics.median(wall for wall, _, _ in runs),
                    cpu_seconds=statistics.median(cpu for _, cpu, _ in runs),
                    peak_rss_mib=max(peak for _, _, peak in runs),
                )
            )
            print(samples[-1], file=sys.stderr, flush=True)
    return samples


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as info:
        total_kib = int(info.readline().split()[1])
    imgtool = subprocess.run(
        [str(BIN_DIR / "imgtool"), "version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{total_kib / MIB:.1f} GiB",
        "python": platform.python_version(),
        "imgtool": imgtool,
    }


def table(samples: list[Sample]) -> str:
    """Return a Markdown table: one row per image and tool, speed-up relative to imgtool."""
    rows = [
        "| image | input | tool | wall (s) | CPU (s) | speed-up vs imgtool (wall, CPU) "
        "| peak RSS (MiB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    by_key = {(s.size_mib, s.form, s.tool): s for s in samples}
    for sample in sorted(samples, key=lambda s: (s.size_mib, s.form, s.tool != "imgtool")):
        reference = by_key[sample.size_mib, sample.form, "imgtool"]
        rows.append(
            f"| {sample.size_mib} MiB | {sample.form} | {sample.tool} "
            f"| {sample.wall_seconds:.2f} | {sample.cpu_seconds:.2f} "
            f"| {reference.wall_seconds / sample.wall_seconds:.1f}x, "
            f"{reference.cpu_seconds / max(sample.cpu_seconds, 0.01):.1f}x "
            f"| {sample.peak_rss_mib:.0f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,16", help="image sizes in MiB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; median is kept")
    parser.add_argument("--json", type=Path, help="also write the samples here")
    args = parser.parse_args()
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="firmseal-bench-") as folder:
        key_pem = write_key(Path(folder))
        for size_mib in (int(text) for text in args.sizes.split(",")):
            samples += measure(Path(folder), size_mib, args.repeat, key_pem)
    facts = machine()
    print(json.dumps(facts))
    print(table(samples))
    if args.json is not None:
        document = {"machine": facts, "samples": [asdict(s) for s in samples]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
