"""Tutor conversations and their messages."""
