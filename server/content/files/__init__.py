"""Serving stored files: public ones (avatars) to anyone, the rest through signed links."""
