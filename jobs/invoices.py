"""Invoice requests and PDF receipts."""

from __future__ import annotations
