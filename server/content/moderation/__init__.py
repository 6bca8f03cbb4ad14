"""Moderation: keyword screening, automatic flags, reports and their resolution."""
