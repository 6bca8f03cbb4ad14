"""Device push and announcement fan-out."""

from __future__ import annotations
