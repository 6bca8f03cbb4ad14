"""Subscription renewals and grace periods."""

from __future__ import annotations
