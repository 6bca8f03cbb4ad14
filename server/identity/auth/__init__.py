"""Accounts, sign-in, sessions and tokens."""
