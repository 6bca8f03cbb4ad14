"""Fuzz the whole OpenAPI document of a running server with Schemathesis.

    .venv/bin/python -m tests.fuzz                       # 5 minutes, embedded mode, random seed
    .venv/bin/python -m tests.fuzz --max-time 60 --seed 7 --max-examples 20
    DATABASE_URL=mysql://... REDIS_URL=redis://... .venv/bin/python -m tests.fuzz

Starts `python -m server serve` in a data folder of its own (SQLite, or the database and Redis
from the environment, migrated first), creates an administrator whose token signs every request
(tests/fuzz/hooks.py), and runs `schemathesis run` with valid and invalid data (`--mode all`)
against every operation. It fails on any 5xx (`not_a_server_error`) and on invalid data the
server accepted (`negative_data_rejection`). Extra arguments go to `schemathesis run`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS = "not_a_server_error,negative_data_rejection"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(url: str, server: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/healthz", timeout=2):
            return
        time.sleep(0.3)
    raise RuntimeError(f"the server did not answer within {within:.0f} s")


def server_environment(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "ENVIRONMENT": env.get("ENVIRONMENT", "development"),
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
            # The fuzzer is one client sending thousands of requests: limits would answer 429.
            "RATE_LIMIT_IP": "10000000/minute",
            "RATE_LIMIT_ACCOUNT": "10000000/minute",
        }
    )
    return env


def fuzz(arguments: list[str], *, data_dir: Path, log: Path) -> int:
    """Start a server in `data_dir`, fuzz it with `schemathesis run <arguments>`; its exit code."""
    env = server_environment(data_dir)
    python = sys.executable
    subprocess.run([python, "-m", "server", "migrate"], cwd=ROOT, env=env, check=True)
    email, password = "fuzz-admin@example.com", secrets.token_urlsafe(16)
    subprocess.run(
        [python, "-m", "server", "createadmin", "--email", email],
        cwd=ROOT,
        env={**env, "SHARESTACK_ADMIN_PASSWORD": password},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [python, "-m", "server", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(url, server, within=90)
            # The client is not ours to measure: under the suite's coverage (which hands its
            # configuration down through COVERAGE_* variables) it would trace every line it runs.
            fuzz_env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")},
                "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
                "FUZZ_BASE_URL": url,
                "FUZZ_ADMIN_EMAIL": email,
                "FUZZ_ADMIN_PASSWORD": password,
                "PYTHONPATH": str(ROOT),
            }
            command = [
                str(Path(python).with_name("schemathesis")),
                "run",
                f"{url}/api/openapi.json",
                "--checks",
                CHECKS,
                "--workers",
                "1",
                "--no-color",
                *arguments,
            ]
            return subprocess.run(command, cwd=ROOT, env=fuzz_env).returncode
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument(
        "--max-time", type=int, default=300, help="seconds (default 300; 0: no time budget)"
    )
    parser.add_argument("--seed", type=int, help="for a reproducible run")
    parser.add_argument("--max-examples", type=int, help="test cases per operation")
    parser.add_argument("--data-dir", type=Path, help="keep the server's data and log here")
    known, extra = parser.parse_known_args(argv)
    arguments = ["--mode", "all", *extra]
    if known.max_time:
        arguments += ["--max-time", str(known.max_time)]
    if known.seed is not None:
        arguments += ["--seed", str(known.seed)]
    if known.max_examples is not None:
        arguments += ["--max-examples", str(known.max_examples)]
    with tempfile.TemporaryDirectory(prefix="sharestack-fuzz-") as scratch:
        data_dir = known.data_dir or Path(scratch)
        data_dir.mkdir(parents=True, exist_ok=True)
        log = data_dir / "server.log"
        code = fuzz(arguments, data_dir=data_dir, log=log)
        if code != 0:
            errors = [line for line in log.read_text().splitlines() if '"error"' in line]
            print("\n".join(errors[-20:]), file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
