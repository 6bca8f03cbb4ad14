"""The import contracts in pyproject.toml (docs/architecture.md) hold, and they catch a back-edge.

lint-imports runs on a copy of the packages, so that an import can be added without touching
the checkout; the copy comes first on the path (`-c` puts the working directory there).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "realtime", "jobs", "models")
LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.exit(lint_imports_command())"
)


@pytest.fixture
def house(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
    )


def add_import(module: Path, statement: str) -> None:
    module.write_text(f"{statement}  # noqa: F401\n{module.read_text()}")


def test_the_packages_keep_their_import_contracts(house: Path) -> None:
    result = lint_imports(house)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_ledger_importing_payments_breaks_the_commerce_order(house: Path) -> None:
    add_import(
        house / "server" / "commerce" / "ledger" / "service.py",
        "import server.commerce.payments.service",
    )

    result = lint_imports(house)

    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "server.commerce.ledger is not allowed to import server.commerce.payments" in result.stdout
    )
    assert "server.commerce.ledger.service -> server.commerce.payments.service" in result.stdout


def test_a_new_cycle_between_domains_breaks_the_run(house: Path) -> None:
    # blocks already depends on follows (a block ends the follows); follows depending on blocks
    # closes a cycle inside the social wing.
    add_import(
        house / "server" / "social" / "follows" / "service.py",
        "import server.social.blocks.service",
    )

    result = lint_imports(house)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "No cycles are allowed in server.social." in result.stdout
    assert ".follows -> .blocks" in result.stdout


def test_a_lower_wing_importing_a_higher_one_breaks_the_order(house: Path) -> None:
    add_import(
        house / "server" / "identity" / "users" / "service.py",
        "import server.social.blocks.service",
    )

    result = lint_imports(house)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "server.identity is not allowed to import server.social" in result.stdout


def test_the_tables_keep_the_wings_order(house: Path) -> None:
    add_import(house / "models" / "identity" / "users.py", "import models.commerce.orders")

    result = lint_imports(house)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "models.identity is not allowed to import models.commerce" in result.stdout


def test_a_platform_module_importing_a_domain_breaks_the_floor(house: Path) -> None:
    add_import(house / "server" / "db.py", "import server.identity.users.service")

    result = lint_imports(house)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "server.db is not allowed to import server.identity" in result.stdout
