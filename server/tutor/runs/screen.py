"""Screening of streamed output as it is released.

Text arrives a token at a time and is released to the user only once screened. Each release
(every delta: the first token at once, then at most one per coalescing interval, and the end of
the answer) screens the text received since the last one, together with the end of what was
released before it (so a term split across two releases is still seen whole), and releases all
of it except its tail that could be the beginning of a listed term: that tail waits for what
follows. So nothing is shown unscreened, no prefix of a term is ever shown, and ordinary text is
held back by nothing at all: "Hel" is released at once, "double y" waits to see whether "our
bitcoin" follows.

Terms are matched in their normalised forms (server/screening/normalise.py); the tail is found
by normalising character by character (cached), walking back from the end: a position starts a
possible term when the normalised text from it is a proper prefix of a term in the form that
term is matched in (compact for terms with CJK, spaced for the others).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from server.screening import screen
from server.screening.normalise import compact, normalise
from server.screening.words import WordList

# Text released before a release that is screened again with it (longer than any listed term).
OVERLAP = 64
# How far back from the end a possible beginning of a term is looked for, in characters
# (separators between a term's characters count here, so this is well above any term's length).
LOOKBACK = 256


class OutputBlocked(Exception):
    """The output contains listed terms: the run ends `moderation.flagged_output`."""


@dataclass(frozen=True, slots=True)
class _Prefixes:
    """Every proper prefix of the list's terms, in the form each is matched in."""

    cjk: frozenset[str]
    latin: frozenset[str]
    cjk_longest: int
    latin_longest: int


_PREFIXES: dict[int, tuple[WordList, _Prefixes]] = {}


def _prefixes_of(words: WordList) -> _Prefixes:
    found = _PREFIXES.get(id(words))
    if found is not None and found[0] is words:
        return found[1]
    if len(_PREFIXES) > 16:  # word lists are reloaded only when their file changes
        _PREFIXES.clear()
    prefixes = _Prefixes(
        frozenset(t[:n] for t in words.cjk_terms for n in range(1, len(t))),
        frozenset(t[:n] for t in words.latin_terms for n in range(1, len(t))),
        max(map(len, words.cjk_terms), default=0),
        max(map(len, words.latin_terms), default=0),
    )
    _PREFIXES[id(words)] = (words, prefixes)
    return prefixes


@lru_cache(maxsize=65536)
def _forms(char: str) -> tuple[str, str]:
    """One character's part of the compact and of the spaced form (" " for white space)."""
    if char.isspace():
        return "", " "
    plain = normalise(char)
    return compact(plain), plain


class OutputScreen:
    def __init__(self, word_list: WordList) -> None:
        self._words = word_list
        self._prefixes = _prefixes_of(word_list)
        self._pending = ""
        self._released_tail = ""

    @property
    def held(self) -> str:
        """Text received and not yet released."""
        return self._pending

    def feed(self, text: str) -> None:
        """Take `text`; it waits for the next release."""
        self._pending += text

    def release(self) -> str:
        """Screen what is pending and release it, except a tail that could begin a term."""
        if not self._pending:
            return ""
        return self._close(self._cut(self._pending))

    def flush(self) -> str:
        """Screen and release whatever is pending (the answer ended)."""
        return self._close(len(self._pending)) if self._pending else ""

    def _cut(self, text: str) -> int:
        """Where the tail that could begin a listed term starts (len(text): no such tail)."""
        prefixes = self._prefixes
        cut = len(text)
        joined_cjk = joined_latin = ""
        for index in range(len(text) - 1, max(-1, len(text) - 1 - LOOKBACK), -1):
            cjk, latin = _forms(text[index])
            if cjk:
                joined_cjk = cjk + joined_cjk
                if joined_cjk in prefixes.cjk:
                    cut = index
            if latin == " ":
                if not joined_latin.startswith(" "):
                    joined_latin = " " + joined_latin
            elif latin:
                joined_latin = latin + joined_latin
                if joined_latin in prefixes.latin:
                    cut = index
            if (
                len(joined_cjk) >= prefixes.cjk_longest
                and len(joined_latin) > prefixes.latin_longest
            ):
                break
        return cut

    def _close(self, cut: int) -> str:
        window = self._pending
        if not screen({"output": self._released_tail + window}, self._words).ok:
            self._pending = ""
            raise OutputBlocked()
        released, self._pending = window[:cut], window[cut:]
        if released:
            self._released_tail = (self._released_tail + released)[-OVERLAP:]
        return released
