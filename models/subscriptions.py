"""Subscriptions and creator earnings and withdrawals."""

from __future__ import annotations
