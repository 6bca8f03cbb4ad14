"""The one text form keyword screening compares: every word list term and every field screened
goes through `normalise`, so a term matches however the text was disguised.

Steps, in order:
1. NFKD: compatibility forms become plain ones (fullwidth letters and digits, compatibility
   ideographs, ligatures, circled and styled letters: "ＦＲＥＥ" -> "FREE", "①" -> "1") and
   accented letters split into letter + combining mark.
2. Invisible characters are removed: every format character (Unicode category Cf: zero-width
   space and joiners U+200B-U+200F, word joiner and invisible operators U+2060-U+2064, U+FEFF,
   the soft hyphen U+00AD, bidi controls, tag characters), variation selectors, hangul fillers,
   and the combining marks of the blocks U+0300-U+036F, U+1AB0-U+1AFF, U+1DC0-U+1DFF,
   U+20D0-U+20FF and U+FE20-U+FE2F: accents ("cásino" -> "casino") and the overlays or
   enclosing marks put on or between letters to split a word ("a̶b" -> "ab"). Kana voicing
   marks and other scripts' marks are kept.
3. NFC recomposes what is left (hangul syllables, kana), then case folding (a stronger lower
   case: "Straße" -> "strasse").
4. Homoglyphs are folded: a Latin, Cyrillic or Greek letter that looks like a Latin letter
   becomes that letter ("dоuble" with a Cyrillic о -> "double", "ρаypаl" -> "paypal"). The
   pairs are Unicode's confusables (UTS #39, through the confusable-homoglyphs package), limited
   to single letters of those three scripts whose prototype is one ASCII letter, so CJK and every
   other script are left alone. Text is case-folded first, so the table maps lower-case letters:
   a letter's own prototype wins, and a capital's ("Н" looks like "H") gives its lower case one
   ("н" -> "h"), which keeps upper- and lower-case spellings of a term matching each other.
5. Traditional Chinese -> simplified with OpenCC's `t2s` table ("詐騙" -> "诈骗").

`compact` then drops every space, punctuation mark and symbol ("付 费", "付.费", "付*_*费" ->
"付费"): terms containing CJK characters are matched in that form, because Chinese puts no spaces
between words and a separator between two characters is only a disguise. Latin terms are matched
in the `spaced` form (white space runs made one space), as whole words.

These forms exist only for matching: they are never stored or shown.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from importlib.resources import files

import opencc

# A short explicit class keeps the scan at a few milliseconds for a 200 KB body (a class built
# from every Mn code point is ten times slower in `re`).
_INVISIBLE = re.compile(
    "["
    "\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff9-\ufffb"
    "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef"
    "]+"
)
_FOLDED_SCRIPTS = ("LATIN ", "CYRILLIC ", "GREEK ")
_SEPARATORS = re.compile(r"[\W_]+")
# CJK ideographs (with extension A and compatibility ideographs), kana and hangul syllables.
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@cache
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _looks_latin(char: str) -> str | None:
    """The ASCII letter a Latin, Cyrillic or Greek letter is confusable with, if just one."""
    if char.isascii() or not unicodedata.category(char).startswith("L"):
        return None
    if not unicodedata.name(char, "").startswith(_FOLDED_SCRIPTS):
        return None
    prototypes = {p for p in _confusables()[char] if len(p) == 1 and p.isascii() and p.isalpha()}
    return prototypes.pop() if len(prototypes) == 1 else None


@cache
def _confusables() -> dict[str, list[str]]:
    """Each character of Unicode's confusables.txt -> the characters it is confused with."""
    data = json.loads(
        (files("confusable_homoglyphs") / "confusables.json").read_text(encoding="utf-8")
    )
    return {char: [entry["c"] for entry in entries] for char, entries in data.items()}


@cache
def _homoglyphs() -> tuple[re.Pattern[str], dict[int, str]]:
    """Step 4: a pattern finding any foldable letter, and the str.translate table folding them
    (case-folded letter -> lower-case ASCII letter); built once."""
    own: dict[str, str] = {}  # from a letter that is its own case-folded form
    capitals: dict[str, str] = {}  # from a capital, under its case-folded form
    for char in _confusables():
        if len(char) != 1 or (prototype := _looks_latin(char)) is None:
            continue
        key = char.casefold()
        if len(key) == 1 and not key.isascii():
            (own if key == char else capitals).setdefault(key, prototype.casefold())
    table = capitals | own
    # Searching first is ~20 times faster than translating text with nothing to fold (CJK).
    pattern = re.compile("[" + "".join(map(re.escape, sorted(table))) + "]")
    return pattern, {ord(key): latin for key, latin in table.items()}


def normalise(text: str) -> str:
    """The screening form of `text` (steps 1-5 of the module docstring)."""
    if not text:
        return ""
    stripped = _INVISIBLE.sub("", unicodedata.normalize("NFKD", text))
    folded = unicodedata.normalize("NFC", stripped).casefold()
    if folded.isascii():
        return folded
    foldable, table = _homoglyphs()
    if foldable.search(folded):
        folded = folded.translate(table)
        if folded.isascii():
            return folded
    return str(_converter().convert(folded))


def spaced(normalised: str) -> str:
    """The normalised text with each run of white space made one space (for Latin terms)."""
    return " ".join(normalised.split())


def compact(text: str) -> str:
    """The text without spaces, punctuation or symbols (for CJK terms)."""
    return _SEPARATORS.sub("", text.replace(" ", ""))


def has_cjk(text: str) -> bool:
    """True when `text` holds at least one CJK character."""
    return _CJK.search(text) is not None
