"""Comments, likes, favorites, topics and posts."""

from __future__ import annotations
