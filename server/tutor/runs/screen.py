"""Screening of streamed output a window at a time.

Text arrives a token at a time; it is released to the user only once screened. A window closes
at a sentence end, or when it has waited `window_seconds`, or reached `window_chars`; it is
screened together with the end of the text released before it, so a term split across two
windows is still found. Only the unscreened tail is ever held back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from server.screening import screen
from server.screening.words import WordList

SENTENCE_ENDS = frozenset("。！？!?.；;\n")
# Text released before a window that is screened again with it (longer than any listed term).
OVERLAP = 32


class OutputBlocked(Exception):
    """The output contains listed terms: the run ends `moderation.flagged_output`."""


class OutputScreen:
    def __init__(
        self,
        word_list: WordList,
        *,
        window_seconds: float,
        window_chars: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._words = word_list
        self._window_seconds = window_seconds
        self._window_chars = window_chars
        self._clock = clock
        self._pending = ""
        self._since: float | None = None
        self._released_tail = ""

    @property
    def held(self) -> str:
        """Text received and not yet released."""
        return self._pending

    def deadline(self) -> float | None:
        """When the pending window closes by age (monotonic seconds), if one is open."""
        return None if self._since is None else self._since + self._window_seconds

    def feed(self, text: str) -> str:
        """Take `text`; what is released by it (screened), possibly nothing."""
        if not text:
            return ""
        if self._since is None:
            self._since = self._clock()
        self._pending += text
        if (
            text[-1] in SENTENCE_ENDS
            or len(self._pending) >= self._window_chars
            or self._clock() >= self._since + self._window_seconds
        ):
            return self._close()
        return ""

    def due(self) -> str:
        """Close the window if it has waited long enough; what is released."""
        if self._since is not None and self._clock() >= self._since + self._window_seconds:
            return self._close()
        return ""

    def flush(self) -> str:
        """Screen and release whatever is pending (the answer ended)."""
        return self._close() if self._pending else ""

    def _close(self) -> str:
        window, self._pending, self._since = self._pending, "", None
        if not screen({"output": self._released_tail + window}, self._words).ok:
            raise OutputBlocked()
        self._released_tail = (self._released_tail + window)[-OVERLAP:]
        return window
