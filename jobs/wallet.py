"""Wallet and in-app purchase tasks."""

from __future__ import annotations
