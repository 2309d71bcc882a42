"""Benchmark `firmseal sign` and `firmseal verify` beside `openssl dgst` on the same images.

Each command runs as a child process under GNU time, which reports its peak resident set
size. The script records the wall time and prints the median of several runs. Before every
timed run it reads the image once, so every tool starts with the image in the page cache.
It also calls sync(2) first, so writeback left over from an earlier run is not charged to
the next one, and waits until the rest of the machine is nearly idle (see --max-busy-cpus).

    python bench/bench_sign_verify.py [--sizes 1M,1G] [--runs 5] [--doc docs/benchmarks.md]

The images are random bytes, so they do not compress. They are written to a temporary folder
under --work-dir and deleted at the end. firmseal gets a throwaway workspace whose master key
is passed in FIRMSEAL_MASTER_KEY. openssl gets its own P-256 key, which is generated for this
run and stored encrypted under a passphrase that only this process's environment holds. No
private key is written to disk in plain text.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os
import platform
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLATFORM_ID = "AWSIoTDeviceManagement-SHA256-ECDSA"
PROFILE = "bench_p256"
KEY_ALIAS = "bench-p256"
CHUNK = 1024 * 1024
# The targets that the report checks: firmseal within this factor of openssl's wall time,
# and a peak RSS under this many MiB, at every size.
TIME_RATIO_TARGET = 1.2
RSS_TARGET_MIB = 64.0
DOC_BEGIN = "<!-- bench_sign_verify.py: begin generated section -->"
DOC_END = "<!-- bench_sign_verify.py: end generated section -->"
SIZE_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}
GNU_TIME = "/usr/bin/time"
QUIET_SECONDS = 3.0
IDLE_PROBE_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class Sample:
    """One run of one child process."""

    wall_s: float
    max_rss_kib: int
    cpu_s: float
    # Busy CPU time of the rest of the machine while the child ran: other processes, and
    # kernel threads and interrupts, some of which (writeback) work for the child.
    other_cpu_s: float


@dataclasses.dataclass
class Case:
    """All runs of one command on one image size."""

    size_label: str
    operation: str
    tool: str
    argv: list[str]
    samples: list[Sample] = dataclasses.field(default_factory=list)

    @property
    def median_wall_s(self) -> float:
        return statistics.median(sample.wall_s for sample in self.samples)

    @property
    def peak_rss_mib(self) -> float:
        return max(sample.max_rss_kib for sample in self.samples) / 1024

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(sample.cpu_s for sample in self.samples)

    @property
    def median_other_cpu_s(self) -> float:
        return statistics.median(sample.other_cpu_s for sample in self.samples)


class CommandFailedError(RuntimeError):
    pass


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)([KMG]?)", text.strip().upper())
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}; expected e.g. 1M or 1G")
    return int(match.group(1)) * SIZE_UNITS.get(match.group(2), 1)


def parse_sizes(text: str) -> list[tuple[str, int]]:
    return [(part.strip().upper(), parse_size(part)) for part in text.split(",") if part.strip()]


def run_measured(argv: Sequence[str], env: dict[str, str], stdout: Path | None = None) -> Sample:
    """Run one child to completion and return its wall time, peak RSS and CPU time.

    GNU time reports the peak RSS. `ru_maxrss` from this process's own `os.wait4` would not
    do: a child that Python forks inherits this interpreter's RSS as its starting peak.
    """
    with (
        tempfile.NamedTemporaryFile("r", prefix="rss-") as rss,
        tempfile.TemporaryFile() as errors,
        open(stdout or os.devnull, "wb") as out,
    ):
        timed = [GNU_TIME, "--format=%M", f"--output={rss.name}", *argv]
        busy_before = machine_busy_seconds()
        start = time.perf_counter()
        child = subprocess.Popen(timed, env=env, stdout=out, stderr=errors)
        # wait4 reaps the child and returns the CPU time of it and its waited-for children.
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        busy = machine_busy_seconds() - busy_before
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            raise CommandFailedError(
                f"{shlex.join(argv)} exited {child.returncode}: {message or '(no output)'}"
            )
        max_rss_kib = int(rss.read().split()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    return Sample(wall, max_rss_kib, cpu, max(0.0, busy - cpu))


def run_quiet(argv: Sequence[str], env: dict[str, str], stdout: Path | None = None) -> None:
    """Run a set-up command that is not measured; raise with its stderr if it fails."""
    run_measured(argv, env, stdout)


def write_random_file(path: Path, size: int) -> None:
    with path.open("wb") as stream:
        remaining = size
        while remaining:
            count = min(CHUNK, remaining)
            stream.write(os.urandom(count))
            remaining -= count


def warm_page_cache(path: Path) -> None:
    """Read the whole file once so the next reader finds it in the page cache."""
    buffer = bytearray(CHUNK)
    with path.open("rb", buffering=0) as stream:
        while stream.readinto(buffer):
            pass


def settle() -> None:
    """Write back dirty pages from earlier runs, so no timed run pays for them."""
    os.sync()


def machine_busy_seconds() -> float:
    """Return the CPU time all CPUs have spent busy since boot, from /proc/stat."""
    with open("/proc/stat") as stream:
        fields = [int(value) for value in stream.readline().split()[1:]]
    # The fields are user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice.
    # guest time is already counted in user, so only the first eight are summed.
    busy_ticks = sum(fields[:8]) - fields[3] - fields[4]
    return busy_ticks / os.sysconf("SC_CLK_TCK")


def wait_until_idle(max_busy_cpus: float, timeout_s: float) -> None:
    """Wait until other processes use less than `max_busy_cpus` CPUs, or the timeout ends.

    The benchmark machine may be shared. A run that starts while another process keeps a
    CPU busy measures that process as much as the command, so each run waits for a quiet
    second first. The table's "other CPU" column shows what load remained.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        before = machine_busy_seconds()
        time.sleep(IDLE_PROBE_SECONDS)
        busy_cpus = (machine_busy_seconds() - before) / IDLE_PROBE_SECONDS
        if busy_cpus < max_busy_cpus or time.monotonic() > deadline:
            return


@dataclasses.dataclass
class Setup:
    """Tools, keys and workspace shared by every case of one benchmark run."""

    work: Path
    firmseal: str
    openssl: str
    env: dict[str, str]
    firmseal_public_key: Path
    openssl_key: Path
    openssl_public_key: Path
    objects_dir: Path


def prepare(work: Path, firmseal: str, openssl: str) -> Setup:
    """Create the firmseal workspace, signing key and profile, and the openssl reference key."""
    home = work / "firmseal-home"
    env = dict(os.environ)
    env.update(
        FIRMSEAL_HOME=str(home),
        FIRMSEAL_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        BENCH_OPENSSL_PASS=secrets.token_hex(16),
    )
    run_quiet([firmseal, "init"], env)
    run_quiet([firmseal, "key", "create", KEY_ALIAS, "--spec", "ECC_NIST_P256"], env)
    run_quiet(
        [firmseal, "profile", "put", PROFILE, "--platform", PLATFORM_ID, "--key", KEY_ALIAS],
        env,
    )
    firmseal_public_key = work / "firmseal-pub.pem"
    run_quiet([firmseal, "key", "public-key", KEY_ALIAS], env, stdout=firmseal_public_key)

    openssl_key = work / "openssl-key.pem"
    openssl_public_key = work / "openssl-pub.pem"
    run_quiet(
        [
            openssl,
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes-256-cbc",
            "-pass",
            "env:BENCH_OPENSSL_PASS",
            "-out",
            str(openssl_key),
        ],
        env,
    )
    run_quiet(
        [
            openssl,
            "pkey",
            "-in",
            str(openssl_key),
            "-passin",
            "env:BENCH_OPENSSL_PASS",
            "-pubout",
            "-out",
            str(openssl_public_key),
        ],
        env,
    )
    return Setup(
        work=work,
        firmseal=firmseal,
        openssl=openssl,
        env=env,
        firmseal_public_key=firmseal_public_key,
        openssl_key=openssl_key,
        openssl_public_key=openssl_public_key,
        objects_dir=home / "objects",
    )


def cases_for(setup: Setup, label: str, image: Path, out_dir: Path) -> list[Case]:
    """Return the four commands for one image, in the order one round runs them."""
    firmseal_sig = out_dir / f"{image.name}.sig"
    openssl_sig = out_dir / f"{image.name}.openssl.sig"
    return [
        Case(
            label,
            "sign",
            "firmseal",
            [setup.firmseal, "sign", "--profile", PROFILE, str(image), "--out-dir", str(out_dir)],
        ),
        Case(
            label,
            "sign",
            "openssl",
            [
                setup.openssl,
                "dgst",
                "-sha256",
                "-sign",
                str(setup.openssl_key),
                "-passin",
                "env:BENCH_OPENSSL_PASS",
                "-out",
                str(openssl_sig),
                str(image),
            ],
        ),
        Case(
            label,
            "verify",
            "firmseal",
            [
                setup.firmseal,
                "verify",
                str(image),
                "--signature",
                str(firmseal_sig),
                "--public-key",
                str(setup.firmseal_public_key),
            ],
        ),
        Case(
            label,
            "verify",
            "openssl",
            [
                setup.openssl,
                "dgst",
                "-sha256",
                "-verify",
                str(setup.openssl_public_key),
                "-signature",
                str(openssl_sig),
                str(image),
            ],
        ),
    ]


def remove_stored_sources(objects_dir: Path) -> None:
    """Delete the source copies that `firmseal sign` stored, so disk use stays bounded.

    Then wait: freeing a large file makes the kernel discard its blocks and, in a virtual
    machine with free page reporting, hand its page-cache memory back to the host. Both run
    in the background for a few seconds and would slow down the next timed command.
    """
    for bucket in objects_dir.iterdir():
        shutil.rmtree(bucket)
    os.sync()
    time.sleep(QUIET_SECONDS)


def bench_size(
    setup: Setup,
    label: str,
    size: int,
    runs: int,
    max_busy_cpus: float,
    idle_timeout_s: float,
) -> list[Case]:
    image_dir = Path(tempfile.mkdtemp(prefix=f"image-{label}-", dir=setup.work))
    image = image_dir / f"image-{label}.bin"
    out_dir = image_dir / "out"
    out_dir.mkdir()
    print(f"writing {size} random bytes to {image}", file=sys.stderr)
    write_random_file(image, size)
    cases = cases_for(setup, label, image, out_dir)
    try:
        for round_number in range(1, runs + 1):
            # One round runs every command once, so slow phases of the machine hit all tools.
            for case in cases:
                warm_page_cache(image)
                settle()
                wait_until_idle(max_busy_cpus, idle_timeout_s)
                case.samples.append(run_measured(case.argv, setup.env))
                if case.tool == "firmseal" and case.operation == "sign":
                    remove_stored_sources(setup.objects_dir)
            print(f"{label}: round {round_number}/{runs} done", file=sys.stderr)
    finally:
        shutil.rmtree(image_dir)
    return cases


def bench_startup(
    setup: Setup, runs: int, max_busy_cpus: float, idle_timeout_s: float
) -> list[Case]:
    cases = [
        Case("-", "--version", "firmseal", [setup.firmseal, "--version"]),
        Case("-", "key list", "firmseal", [setup.firmseal, "key", "list"]),
        Case("-", "version", "openssl", [setup.openssl, "version"]),
    ]
    for _ in range(runs):
        for case in cases:
            wait_until_idle(max_busy_cpus, idle_timeout_s)
            case.samples.append(run_measured(case.argv, setup.env))
    return cases


def _capture(argv: Sequence[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as stream:
        for line in stream:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    with open("/proc/meminfo") as stream:
        for line in stream:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return 0.0


def _disk(path: Path) -> str:
    """Describe the file system and block device that hold `path`."""
    fields = _capture(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "--target", str(path)]).split()
    if len(fields) != 2:
        return "unknown"
    source, fstype = fields
    device = Path(source).name
    rotational = Path(f"/sys/block/{device}/queue/rotational")
    kind = ""
    if rotational.exists():
        kind = f", queue/rotational={rotational.read_text().strip()}"
    total_gib = shutil.disk_usage(path).total / 1024**3
    return f"{source} ({fstype}{kind}, {total_gib:.0f} GiB)"


def _interpreter_of(script: str) -> str:
    """Return the Python that runs a console script, from its `#!` line."""
    path = shutil.which(script) or script
    try:
        with open(path, "rb") as stream:
            first_line = stream.readline().decode(errors="replace")
    except OSError:
        return sys.executable
    if first_line.startswith("#!"):
        return first_line[2:].strip().split()[0]
    return sys.executable


def describe_machine(setup: Setup) -> list[tuple[str, str]]:
    # hashlib, which hashes the image in firmseal, uses the OpenSSL that Python's ssl module
    # reports. cryptography, which signs and verifies the digest, links its own.
    probe = (
        "import cryptography, platform, ssl; "
        "from cryptography.hazmat.backends.openssl.backend import backend; "
        "print(platform.python_version(), ssl.OPENSSL_VERSION, cryptography.__version__, "
        "backend.openssl_version_text(), sep='|')"
    )
    parts = _capture([_interpreter_of(setup.firmseal), "-c", probe]).split("|")
    python_version, python_openssl, crypto_version, crypto_openssl = (parts + ["unknown"] * 4)[:4]
    return [
        ("CPUs (nproc)", str(len(os.sched_getaffinity(0)))),
        ("CPU model", _cpu_model()),
        ("RAM", f"{_memory_gib():.1f} GiB"),
        ("disk", _disk(setup.work)),
        ("kernel", platform.release()),
        ("Python (firmseal)", f"{python_version}, hashlib on {python_openssl}"),
        ("cryptography", f"{crypto_version}, linked against {crypto_openssl}"),
        ("openssl CLI", _capture([setup.openssl, "version"])),
    ]


def _openssl_twin(cases: list[Case], case: Case) -> Case | None:
    for other in cases:
        same = other.size_label == case.size_label and other.operation == case.operation
        if same and other.tool == "openssl":
            return other
    return None


def result_rows(cases: list[Case]) -> list[list[str]]:
    rows = []
    for case in cases:
        twin = _openssl_twin(cases, case)
        ratio = ""
        if case.tool == "firmseal" and twin is not None:
            ratio = f"{case.median_wall_s / twin.median_wall_s:.2f}x"
        walls = [sample.wall_s for sample in case.samples]
        rows.append(
            [
                case.size_label,
                case.operation,
                case.tool,
                f"{case.median_wall_s:.3f}",
                f"{min(walls):.3f}-{max(walls):.3f}",
                f"{case.median_cpu_s:.3f}",
                f"{case.median_other_cpu_s:.3f}",
                f"{case.peak_rss_mib:.1f}",
                ratio,
            ]
        )
    return rows


RESULT_HEADER = [
    "size",
    "operation",
    "tool",
    "median wall (s)",
    "min-max wall (s)",
    "median CPU (s)",
    "other CPU (s)",
    "peak RSS (MiB)",
    "vs openssl",
]


def target_lines(cases: list[Case]) -> list[str]:
    """Check the targets: time within TIME_RATIO_TARGET of openssl, RSS bounded and flat."""
    lines = []
    for case in cases:
        if case.tool != "firmseal":
            continue
        twin = _openssl_twin(cases, case)
        if twin is None:
            continue
        ratio = case.median_wall_s / twin.median_wall_s
        verdict = "met" if ratio <= TIME_RATIO_TARGET else "missed"
        lines.append(
            f"{case.operation} {case.size_label}: {ratio:.2f}x openssl's wall time, "
            f"target {TIME_RATIO_TARGET}x: {verdict}"
        )
        rss_verdict = "met" if case.peak_rss_mib < RSS_TARGET_MIB else "missed"
        lines.append(
            f"{case.operation} {case.size_label}: peak RSS {case.peak_rss_mib:.1f} MiB, "
            f"target under {RSS_TARGET_MIB:.0f} MiB: {rss_verdict}"
        )
    for operation in ("sign", "verify"):
        peaks = [
            case.peak_rss_mib
            for case in cases
            if case.tool == "firmseal" and case.operation == operation
        ]
        if len(peaks) > 1:
            lines.append(
                f"{operation}: peak RSS spread across sizes {max(peaks) - min(peaks):.1f} MiB"
            )
    return lines


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    head = "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))
    return "\n".join([head, "  ".join("-" * width for width in widths), *lines])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_section(
    machine: list[tuple[str, str]],
    command: str,
    runs: int,
    cases: list[Case],
    startup: list[Case],
) -> str:
    startup_rows = [
        [case.operation, case.tool, f"{case.median_wall_s:.3f}", f"{case.peak_rss_mib:.1f}"]
        for case in startup
    ]
    parts = [
        DOC_BEGIN,
        f"Measured on {time.strftime('%Y-%m-%d')} with:",
        "",
        "```sh",
        command,
        "```",
        "",
        markdown_table(["machine", ""], [[name, value] for name, value in machine]),
        "",
        f"Median of {runs} runs. Wall time and peak RSS (from GNU time) are those of the "
        "child process, so they include interpreter start-up and, for firmseal, opening the "
        "workspace. CPU is the child's user plus system time. Other CPU is the rest of the "
        "machine's busy time during the run: other processes, and kernel threads and "
        "interrupts, some of which (writeback, I/O completion) work for the child.",
        "",
        markdown_table(RESULT_HEADER, result_rows(cases)),
        "",
        "Fixed start-up cost, paid by every command whatever the image size:",
        "",
        markdown_table(
            ["command", "tool", "median wall (s)", "peak RSS (MiB)"],
            startup_rows,
        ),
        "",
        "Targets:",
        "",
        *[f"- {line}" for line in target_lines(cases)],
        DOC_END,
    ]
    return "\n".join(parts) + "\n"


def update_doc(path: Path, section: str) -> None:
    """Replace the generated block in `path`, or append a new section when it has none."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if DOC_BEGIN in text and DOC_END in text:
        before, rest = text.split(DOC_BEGIN, 1)
        _, after = rest.split(DOC_END, 1)
        text = before + section.rstrip("\n") + after
    else:
        heading = "## Sign and verify, detached ECDSA P-256"
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{section}"
    path.write_text(text)


def default_firmseal() -> str:
    beside_python = Path(sys.executable).with_name("firmseal")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("firmseal") or "firmseal"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=parse_sizes("1M,1G"),
        help="Comma-separated image sizes with a K, M or G suffix (default: 1M,1G).",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="Runs of each command; the median is reported (default: 5).",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=REPO / "bench" / "out",
        help="Folder for the temporary images and workspace (default: bench/out).",
    )
    parser.add_argument(
        "--doc",
        type=Path,
        help="Markdown file whose generated benchmark section is replaced with the results.",
    )
    parser.add_argument(
        "--firmseal",
        default=default_firmseal(),
        help="firmseal executable to measure (default: the one beside this Python, else PATH).",
    )
    parser.add_argument("--openssl", default="openssl", help="openssl executable to compare.")
    parser.add_argument(
        "--max-busy-cpus",
        type=float,
        default=0.2,
        help="Before each run, wait until the rest of the machine keeps fewer CPUs busy than "
        "this (default: 0.2).",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        help="Seconds to wait for that before running anyway (default: 60).",
    )

    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def run_benchmark(args: argparse.Namespace, report: Callable[[str], None]) -> None:
    args.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-sign-verify-", dir=args.work_dir))
    try:
        setup = prepare(work, args.firmseal, args.openssl)
        machine = describe_machine(setup)
        cases: list[Case] = []
        for label, size in args.sizes:
            cases += bench_size(
                setup, label, size, args.runs, args.max_busy_cpus, args.idle_timeout
            )
        startup = bench_startup(setup, args.runs, args.max_busy_cpus, args.idle_timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    command = shlex.join(["python", "bench/bench_sign_verify.py", *sys.argv[1:]])
    report(text_table(RESULT_HEADER, result_rows(cases)))
    report("")
    report(text_table(RESULT_HEADER, result_rows(startup)))
    report("")
    for line in target_lines(cases):
        report(line)
    if args.doc is not None:
        update_doc(args.doc, markdown_section(machine, command, args.runs, cases, startup))
        report(f"\nwrote {args.doc}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.access(GNU_TIME, os.X_OK):
        print(
            f"error: {GNU_TIME} not found; install GNU time (apt-get install time)",
            file=sys.stderr,
        )
        return 1
    try:
        run_benchmark(args, print)
    except CommandFailedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
