"""Screening of streamed output a window at a time.

Text arrives a token at a time; it is released to the user only once screened. A window closes
at a sentence end, or when it has waited `window_seconds`, or reached `window_chars`. A window
that closes mid-sentence keeps back its last characters, as many as a listed term could have
before its end, and screens them again with the next window: so no prefix of a term split
across two windows is ever released. At a sentence end (and at the end of the answer) the
whole window goes.
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
        longest = max(map(len, [*word_list.cjk_terms, *word_list.latin_terms]), default=1)
        self._keep = max(0, longest - 1)

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
        if text.rstrip()[-1:] in SENTENCE_ENDS:
            return self._close(whole=True)
        if (
            len(self._pending) >= self._window_chars
            or self._clock() >= self._since + self._window_seconds
        ):
            return self._close(whole=False)
        return ""

    def due(self) -> str:
        """Close the window if it has waited long enough; what is released."""
        if self._since is not None and self._clock() >= self._since + self._window_seconds:
            return self._close(whole=False)
        return ""

    def flush(self) -> str:
        """Screen and release whatever is pending (the answer ended)."""
        return self._close(whole=True) if self._pending else ""

    def _cut(self, window: str) -> int:
        """Where the kept tail starts: `_keep` characters from the end, spaces not counted
        (terms of Chinese are matched with spaces removed)."""
        kept = 0
        for index in range(len(window) - 1, -1, -1):
            if kept == self._keep:
                return index + 1
            if not window[index].isspace():
                kept += 1
        return 0

    def _close(self, *, whole: bool) -> str:
        window = self._pending
        if not screen({"output": self._released_tail + window}, self._words).ok:
            self._pending, self._since = "", None
            raise OutputBlocked()
        cut = len(window) if whole else self._cut(window)
        released, self._pending = window[:cut], window[cut:]
        self._since = self._clock() if self._pending else None
        self._released_tail = (self._released_tail + released)[-OVERLAP:]
        return released
