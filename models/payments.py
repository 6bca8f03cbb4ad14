"""Payments, provider events, refunds and reconciliation runs."""

from __future__ import annotations
