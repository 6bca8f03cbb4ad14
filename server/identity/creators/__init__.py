"""Applying to become a creator, with real-name verification."""
