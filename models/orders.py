"""Orders and their items and history."""

from __future__ import annotations
