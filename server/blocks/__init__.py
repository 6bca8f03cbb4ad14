"""User blocks."""
