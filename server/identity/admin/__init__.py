"""Administration: the audit log of admin actions."""
