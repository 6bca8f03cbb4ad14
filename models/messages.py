"""Conversations, messages, blocks and presence."""

from __future__ import annotations
