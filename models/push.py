"""Notification preferences, push devices and announcements."""

from __future__ import annotations
