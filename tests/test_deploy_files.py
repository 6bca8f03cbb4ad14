"""Deployment files: the Procfile, compose.yaml and .env.example say what the code expects."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
APP_SERVICES = ("web", "worker", "media-worker", "tutor-worker")


def procfile() -> dict[str, str]:
    processes: dict[str, str] = {}
    for line in PROCFILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, process_command = line.partition(":")
        assert sep, f"not a 'name: command' line: {line!r}"
        assert name.strip() not in processes, f"process {name!r} defined twice"
        processes[name.strip()] = process_command.strip()
    return processes


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def services() -> dict[str, Any]:
    return compose()["services"]


def command_of(service: dict[str, Any]) -> list[str]:
    value = service.get("command")
    return shlex.split(value) if isinstance(value, str) else list(value or [])


def worker_kind(process_command: str) -> str:
    """The kind in `python -m jobs <kind>`: the workers run through our entry point, not arq's
    CLI (which would run arq's plain Worker, without leases or riding out Redis outages)."""
    argv = shlex.split(process_command)
    assert argv[:3] == ["python", "-m", "jobs"] and len(argv) == 4, process_command
    return argv[3]


def worker_settings(kind: str) -> Any:
    return importlib.import_module("jobs.worker").WORKERS[kind]


# --- Procfile ---------------------------------------------------------------------------------


def test_procfile_declares_release_web_worker_media_and_tutor_processes() -> None:
    assert {"release", "web", "worker", "media", "tutor"} <= set(procfile())


def test_procfile_release_runs_alembic_upgrade_head() -> None:
    assert shlex.split(procfile()["release"]) == ["alembic", "upgrade", "head"]


def test_procfile_web_serves_on_all_interfaces_and_binds_port_from_the_environment() -> None:
    argv = shlex.split(procfile()["web"])
    assert argv[:4] == ["python", "-m", "server", "serve"]
    assert argv[argv.index("--port") + 1] in ("$PORT", "${PORT}")
    assert argv[argv.index("--host") + 1] == "0.0.0.0"


def test_procfile_workers_run_the_default_media_and_tutor_worker_settings() -> None:
    processes = procfile()
    assert worker_settings(worker_kind(processes["worker"])).__name__ == "WorkerSettings"
    assert worker_settings(worker_kind(processes["media"])).__name__ == "MediaWorkerSettings"
    assert worker_settings(worker_kind(processes["tutor"])).__name__ == "TutorWorkerSettings"


def test_procfile_worker_classes_import_and_listen_on_distinct_queues() -> None:
    processes = procfile()
    workers = [
        worker_settings(worker_kind(processes[kind])) for kind in ("worker", "media", "tutor")
    ]
    assert all(worker.queue_name for worker in workers)
    assert len({worker.queue_name for worker in workers}) == 3
    assert len({worker.health_check_key for worker in workers}) == 3


def test_procfile_release_command_migrates_a_database_given_only_database_url(
    tmp_path: Path,
) -> None:
    database = tmp_path / "release.db"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        shlex.split(procfile()["release"]),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"alembic_version", "outbox_messages", "idempotency_keys"} <= tables


# --- compose.yaml -----------------------------------------------------------------------------


def test_compose_runs_mysql_8_and_redis_7_with_healthchecks() -> None:
    s = services()
    assert str(s["mysql"]["image"]).startswith("mysql:8")
    assert str(s["redis"]["image"]).startswith("redis:7")
    for name in ("mysql", "redis"):
        healthcheck = s[name].get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        assert healthcheck.get("test"), f"{name} healthcheck has no test"


def test_compose_mysql_server_defaults_to_utf8mb4_unicode_ci() -> None:
    argv = command_of(services()["mysql"])
    assert "--character-set-server=utf8mb4" in argv
    assert "--collation-server=utf8mb4_unicode_ci" in argv


def test_compose_has_a_one_off_migrate_service_after_mysql_is_healthy() -> None:
    migrate = services()["migrate"]
    argv = command_of(migrate)
    assert "migrate" in argv
    assert str(migrate.get("restart", "no")) == "no"
    assert migrate["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert "migrate" not in migrate["depends_on"], "migrate must not wait for itself"
    assert migrate["environment"]["DATABASE_URL"]


def test_compose_declares_web_and_each_worker() -> None:
    s = services()
    for name in APP_SERVICES:
        assert name in s
    assert command_of(s["web"])[:4] == ["python", "-m", "server", "serve"]
    assert command_of(s["worker"]) == ["python", "-m", "jobs", "worker"]
    assert command_of(s["media-worker"]) == ["python", "-m", "jobs", "media"]
    assert command_of(s["tutor-worker"]) == ["python", "-m", "jobs", "tutor"]


@pytest.mark.parametrize("service", ("mysql", "redis", *APP_SERVICES))
def test_compose_restarts_a_long_running_service_that_dies(service: str) -> None:
    assert services()[service].get("restart") in ("always", "unless-stopped")


def test_compose_redis_keeps_its_data_in_an_append_only_file() -> None:
    argv = command_of(services()["redis"])
    assert argv[argv.index("--appendonly") + 1] == "yes"
    assert services()["redis"]["volumes"], "the AOF must outlive the container"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_app_service_waits_for_healthy_stores_and_a_finished_migration(
    service: str,
) -> None:
    depends_on = services()[service]["depends_on"]
    assert depends_on["mysql"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("service", ("migrate", *APP_SERVICES))
def test_compose_app_service_runs_in_production_mode_on_mysql_and_redis(service: str) -> None:
    environment = services()[service]["environment"]
    assert environment["ENVIRONMENT"] == "production"
    assert re.match(r"^(mysql|mariadb)(\+asyncmy)?://", environment["DATABASE_URL"])
    assert environment["REDIS_URL"].startswith("redis://")


def test_compose_database_url_selects_mysql_with_utf8mb4() -> None:
    url = services()["web"]["environment"]["DATABASE_URL"]
    settings = Settings(database_url=url, redis_url="redis://redis:6379/0")
    assert settings.sqlalchemy_url.startswith("mysql+asyncmy://")
    assert "charset=utf8mb4" in settings.sqlalchemy_url


# --- .env.example -----------------------------------------------------------------------------


@pytest.mark.xfail(not ENV_EXAMPLE.exists(), reason=".env.example not written yet", strict=False)
def test_env_example_lists_every_setting_as_an_upper_case_variable() -> None:
    listed = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        # Optional settings may be listed commented out: "# JWT_PUBLIC_KEY=".
        match = re.match(r"^\s*(?:#\s*)?(?:export\s+)?([A-Z][A-Z0-9_]*)=", line)
        if match:
            listed.add(match.group(1))
    expected = {name.upper() for name in Settings.model_fields}
    assert sorted(expected - listed) == []
