"""Measure SignPayload throughput and latency beside a bare endpoint of the same server.

Runs `firmseal serve` on 127.0.0.1 three ways (SQLite with 1 HTTP worker, PostgreSQL with 1
and with 2 HTTP workers), and for each drives SignPayload (SigV4-signed POST) and
GET /native/v1/ping (no authentication, no database) with 1, 8 and 32 concurrent clients.
Clients are threads spread over up to 4 processes, each with one keep-alive connection.

Usage: .venv/bin/python bench/bench_api.py [--requests N] [--json OUT]

PostgreSQL must accept the user `postgres` on 127.0.0.1:5432 with trust authentication.
The script creates a database with a random name and drops it at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from api_server import Workspace, postgres_database, start_server

IOT = "AWSIoTDeviceManagement-SHA256-ECDSA"
CONCURRENCY = (1, 8, 32)
MAX_PROCESSES = 4


def sign_payload_request(
    port: int, credentials: dict[str, str]
) -> tuple[str, bytes, dict[str, str]]:
    body = json.dumps(
        {
            "profileName": "bench",
            "payload": "aGVsbG8gZmlybXdhcmU=",
            "payloadFormat": "application/octet-stream",
        }
    ).encode()
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{port}/signing-jobs/with-payload",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(
        Credentials(credentials["AccessKeyId"], credentials["SecretAccessKey"]),
        "signer",
        "us-east-1",
    ).add_auth(request)
    return "/signing-jobs/with-payload", body, dict(request.headers.items())


def client_thread(
    port: int,
    endpoint: str,
    count: int,
    credentials: dict[str, str],
    latencies: list[float],
    errors: list[int],
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(count):
        started = time.perf_counter()
        if endpoint == "ping":
            connection.request("GET", "/native/v1/ping")
        else:
            # Signing is part of a real client's cost, so it is inside the timed section.
            path, body, headers = sign_payload_request(port, credentials)
            connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            errors.append(response.status)
    connection.close()


def client_process(
    port: int, endpoint: str, threads: int, per_thread: int, credentials: dict[str, str]
) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    errors: list[int] = []
    workers = [
        threading.Thread(
            target=client_thread, args=(port, endpoint, per_thread, credentials, latencies, errors)
        )
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, errors


def measure(
    port: int, endpoint: str, clients: int, total: int, credentials: dict[str, str]
) -> dict[str, Any]:
    processes = min(clients, MAX_PROCESSES)
    threads = clients // processes
    per_thread = max(1, total // clients)
    started = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        futures = [
            pool.submit(client_process, port, endpoint, threads, per_thread, credentials)
            for _ in range(processes)
        ]
        results = [future.result() for future in futures]
    elapsed = time.perf_counter() - started
    latencies = sorted(x for result in results for x in result[0])
    errors = [x for result in results for x in result[1]]
    return {
        "endpoint": endpoint,
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def run_setup(name: str, workspace: Workspace, workers: int, total: int) -> list[dict[str, Any]]:
    credentials = workspace.principal(f"bench-{name}-{workers}", admin=True)
    server = start_server(workspace, "--workers", str(workers), "--signing-workers", "0")
    rows = []
    try:
        measure(server.port, "sign", 1, 20, credentials)  # warm-up
        for clients in CONCURRENCY:
            for endpoint in ("ping", "sign"):
                row = measure(server.port, endpoint, clients, total, credentials)
                row.update({"setup": name, "http_workers": workers})
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        server.stop()
    return rows


def prepare(workspace: Workspace) -> None:
    material = workspace.setup_signing_material()
    workspace.run(
        "profile",
        "put",
        "bench",
        "--platform",
        IOT,
        "--key",
        "release",
        "--certificate",
        material["certificateArn"],
    )


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    postgres = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "postgresql": postgres,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests",
        type=int,
        default=480,
        help="Requests per endpoint and concurrency level (default 480).",
    )
    parser.add_argument("--json", type=Path, help="Write all results to this JSON file.")
    arguments = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with TemporaryDirectory() as tmp, ExitStack() as stack:
        home = Path(tmp) / "sqlite"
        sqlite = Workspace(home, f"sqlite:///{home / 'firmseal.db'}")
        prepare(sqlite)
        rows += run_setup("sqlite", sqlite, 1, arguments.requests)
        url = stack.enter_context(postgres_database())
        postgres = Workspace(Path(tmp) / "pg", url)
        prepare(postgres)
        rows += run_setup("postgresql", postgres, 1, arguments.requests)
        rows += run_setup("postgresql", postgres, 2, arguments.requests)
    report = {"machine": machine(), "results": rows}
    if arguments.json:
        arguments.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["machine"]))


if __name__ == "__main__":
    main()
