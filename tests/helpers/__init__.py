"""Helpers the tests share: plain functions, classes and constants, one module per domain or
concern (`from tests.helpers.people import Person, call, person`). Fixtures stay in the
conftests; these modules hold none."""

import pkgutil

import pytest

# Their asserts report as the tests' own do (registered before any of them is imported).
pytest.register_assert_rewrite(*(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__)))
