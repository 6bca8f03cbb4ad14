"""Earnings settlement and withdrawal payouts."""

from __future__ import annotations
