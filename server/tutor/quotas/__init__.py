"""Tutor quotas (tokens per business day, runs at once) per role and per user, and usage."""
