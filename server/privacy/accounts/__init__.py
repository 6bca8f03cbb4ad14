"""Deactivating, deleting and exporting one's own account."""
