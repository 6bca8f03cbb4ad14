"""Comment, like and community tasks."""

from __future__ import annotations
