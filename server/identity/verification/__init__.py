"""Verification codes by email and SMS, code sign-in, password reset and change."""
