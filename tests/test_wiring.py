"""Importing a module registers nothing: the composition roots wire moderation targets and tasks,
and tasks leave their queries to the services they call.

The registration check runs in a fresh interpreter, where no test has built an application yet.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import jobs

IMPORT_EVERYTHING = """
import importlib, pkgutil
import server, jobs
for package in (server, jobs):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not module.name.endswith("__main__") and module.name != "jobs.worker":
            importlib.import_module(module.name)
"""


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_every_module_registers_no_moderation_target_until_the_app_is_built() -> None:
    out = run(
        IMPORT_EVERYTHING
        + """
from server.app import create_app
from server.content.moderation import service
from tests.conftest import make_settings
print(sorted(service._TARGETS), sorted(service._UPHOLDS))
create_app(make_settings())
print(sorted(service._TARGETS), sorted(service._UPHOLDS))
"""
    )
    imported, built = out.splitlines()[-2:]
    assert imported == "['content', 'user'] []"
    assert built == (
        "['comment', 'content', 'message', 'post', 'review', 'user'] "
        "['comment', 'message', 'post', 'review']"
    )


def test_tasks_write_no_queries_they_call_services() -> None:
    querying = []
    for path in sorted(Path(jobs.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                querying.append(f"{path.name}: from {node.module}")
            if isinstance(node, ast.Import):
                querying += [
                    f"{path.name}: import {a.name}" for a in node.names if "sqlalchemy" in a.name
                ]
    assert querying == []
