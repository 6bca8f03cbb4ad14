"""Account tasks: building data exports, erasing deleted accounts."""

from __future__ import annotations
