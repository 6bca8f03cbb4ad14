"""User tasks: re-encoding uploaded avatars into their sizes."""

from __future__ import annotations
