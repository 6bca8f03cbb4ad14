"""Payment tasks: follow-up, query fallback, refunds, reconciliation."""

from __future__ import annotations
