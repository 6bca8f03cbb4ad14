"""Signed-in sessions, two-factor authentication and push devices."""
