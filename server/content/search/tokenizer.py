"""Words to index tokens, the same way for documents and for queries.

Text is NFKC-normalised and lower-cased. A run of CJK characters (Han, kana, Hangul) gives its
overlapping bigrams ("知识付费" -> 知识 识付 付费); a document also gives every CJK
character on its own, so a one-character query ("知") finds it, while a longer query asks only
for bigrams, so "知识付费" matches "知识付费" and not "知识" and "付费" apart (that text lacks
识付). Any other run of letters and digits is one word, however short ("c", "python", "2026").
Everything else separates. Traditional and simplified characters stay different characters:
體 does not find 体 (no conversion between them).

MariaDB has no ngram parser, and both MariaDB's and MySQL's InnoDB parsers drop words shorter
than `innodb_ft_min_token_size` (3) or longer than `innodb_ft_max_token_size` (84), split on
anything but letters, digits and `_`, and skip stopwords. So each token is stored encoded as
`z` + the lower-case hex of its UTF-8 ("知" -> `ze79fa5`, "c" -> `z63`): 3 to 63 characters of
[0-9a-z], always one parser word, never a stopword (none starts with `z`). A word longer than 31
bytes is stored as `y` + 40 hex digits of its SHA-256 instead, which stays under the maximum and
still matches exactly. SQLite's FTS5 (unicode61 tokenizer) reads the same tokens as words.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf"  # Han extension A
    "\u4e00-\u9fff"  # Han
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # Han compatibility
    "\U00020000-\U0003134f"  # Han extensions B-G
)
RUNS = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
_LONGEST_HEX_WORD = 31  # bytes: `z` + 62 hex digits stays under innodb_ft_max_token_size


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def words(text: str, *, unigrams: bool) -> Iterator[str]:
    """The plain tokens of a text, in order (repeats kept)."""
    for match in RUNS.finditer(normalise(text)):
        cjk, word = match.groups()
        if word is not None:
            yield word
            continue
        if len(cjk) == 1:
            yield cjk
            continue
        for i in range(len(cjk) - 1):
            if unigrams:
                yield cjk[i]
            yield cjk[i : i + 2]
        if unigrams:
            yield cjk[-1]


def encode(token: str) -> str:
    """The form a token is stored and searched in: one parser word of 3 to 63 characters."""
    raw = token.encode()
    if len(raw) > _LONGEST_HEX_WORD:
        return "y" + hashlib.sha256(raw).hexdigest()[:40]
    return "z" + raw.hex()


def document_tokens(text: str) -> list[str]:
    """Encoded tokens of a text to index (CJK unigrams included)."""
    return [encode(token) for token in words(text, unigrams=True)]


def query_tokens(text: str) -> list[str]:
    """Encoded distinct tokens a query requires, in order; empty when it has no words."""
    return list(dict.fromkeys(encode(token) for token in words(text, unigrams=False)))


def join(tokens: Iterable[str]) -> str:
    return " ".join(tokens)
