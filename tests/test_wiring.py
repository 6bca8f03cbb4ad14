"""Importing a module registers nothing: the composition roots wire moderation targets and tasks.

Each check runs in a fresh interpreter, where no test has built an application yet.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
