"""The double-entry ledger and in-app purchase records."""

from __future__ import annotations
