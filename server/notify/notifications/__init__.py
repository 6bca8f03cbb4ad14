"""Notifications: persisted, pushed live, counted and marked read."""
