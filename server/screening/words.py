"""The word list keyword screening looks for, and the automaton that finds it.

A list is a built-in set of unambiguous examples (scam, gambling and illegal-goods phrases; see
`BUILTIN`) plus, optionally, the operator's file (setting MODERATION_WORDS_FILE): UTF-8, one
term per line, optionally followed by a tab and a category (lower case letters, digits, `_`;
"prohibited" when omitted). Blank lines and lines starting with `#` are skipped. A term the
file lists twice keeps its last category.

Terms are normalised exactly like the text (server/screening/normalise.py). A term holding
a
CJK character is looked for in the compact text (no separators), anywhere; any other term in the
spaced text, as a whole word (not inside a longer Latin word or number), so "ass" never matches
"class".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import ahocorasick

from server.screening.normalise import compact, has_cjk, normalise, spaced

DEFAULT_CATEGORY = "prohibited"
_CATEGORY = re.compile(r"[a-z0-9_]{1,32}")

BUILTIN: tuple[tuple[str, str], ...] = (
    ("刷单返利", "scam"),
    ("网络刷单兼职", "scam"),
    ("信用卡套现", "scam"),
    ("无抵押裸贷", "scam"),
    ("double your bitcoin", "scam"),
    ("网络赌博平台", "gambling"),
    ("网上赌场", "gambling"),
    ("时时彩平台", "gambling"),
    ("代开发票", "illegal_goods"),
    ("办理假证", "illegal_goods"),
    ("出售身份证", "illegal_goods"),
    ("买卖银行卡", "illegal_goods"),
    ("出售枪支", "illegal_goods"),
    ("出售冰毒", "illegal_goods"),
    ("fake passports for sale", "illegal_goods"),
)


class InvalidWordList(ValueError):
    """A line of the word list file cannot be used."""


@dataclass(frozen=True, slots=True)
class Match:
    term: str
    category: str


def _automaton(terms: dict[str, str]) -> ahocorasick.Automaton | None:
    if not terms:
        return None
    automaton = ahocorasick.Automaton()
    for term, category in terms.items():
        automaton.add_word(term, (term, category))
    automaton.make_automaton()
    return automaton


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() and not has_cjk(ch)


@dataclass
class WordList:
    """Normalised terms and their categories, compiled into two Aho-Corasick automata."""

    cjk_terms: dict[str, str] = field(default_factory=dict)
    latin_terms: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cjk = _automaton(self.cjk_terms)
        self._latin = _automaton(self.latin_terms)

    @classmethod
    def of(cls, entries: Iterable[tuple[str, str]]) -> WordList:
        """A list from (term, category) pairs, terms normalised; empty terms are skipped."""
        cjk: dict[str, str] = {}
        latin: dict[str, str] = {}
        for term, category in entries:
            key = spaced(normalise(term))
            if has_cjk(key):
                cjk[compact(key)] = category
            elif key:
                latin[key] = category
        return cls(cjk, latin)

    def __len__(self) -> int:
        return len(self.cjk_terms) + len(self.latin_terms)

    def find(self, text: str) -> Iterator[Match]:
        """Every occurrence of a term in `text` (normalised here), in no particular order."""
        if not text:
            return
        plain = spaced(normalise(text))
        if self._latin is not None:
            for end, (term, category) in self._latin.iter(plain):
                start = end - len(term) + 1
                before = plain[start - 1] if start > 0 else " "
                after = plain[end + 1] if end + 1 < len(plain) else " "
                if not (_is_word_char(before) and _is_word_char(term[0])) and not (
                    _is_word_char(after) and _is_word_char(term[-1])
                ):
                    yield Match(term, category)
        if self._cjk is not None and has_cjk(plain):
            for _end, (term, category) in self._cjk.iter(compact(plain)):
                yield Match(term, category)


def parse_file(text: str, *, source: str = "word list") -> list[tuple[str, str]]:
    """(term, category) pairs of a word list file; InvalidWordList names a bad line."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        term, _, category = line.partition("\t")
        category = category.strip().lower() or DEFAULT_CATEGORY
        if not _CATEGORY.fullmatch(category):
            raise InvalidWordList(f"{source}:{number}: the category must be [a-z0-9_], 1-32 long")
        if term.strip():
            entries.append((term.strip(), category))
    return entries


@lru_cache(maxsize=8)
def _load(path: str | None, stamp: tuple[int, int], builtin: bool) -> WordList:
    entries: list[tuple[str, str]] = list(BUILTIN) if builtin else []
    if path is not None:
        entries += parse_file(Path(path).read_text(encoding="utf-8-sig"), source=path)
    return WordList.of(entries)


def load(path: Path | None, *, builtin: bool = True) -> WordList:
    """The built-in list (unless turned off) plus the file's; reloaded when the file changes."""
    if path is None:
        return _load(None, (0, 0), builtin)
    stat = path.stat()
    return _load(str(path), (stat.st_mtime_ns, stat.st_size), builtin)
