"""What nicknames and bios may hold: visible text, not tricks.

Names and bios are shown to other people next to everything a user does, so characters that
change how text looks without being seen are taken out before anything is stored:

- control and format characters (Unicode Cc, Cf: NUL, bidi overrides such as U+202E, zero-width
  spaces and joiners, the soft hyphen, tag characters), surrogates and private-use characters,
  and the letters and symbols that render as nothing (hangul fillers, the braille blank);
- combining marks with no letter to sit on, and all but the first `MAX_MARKS` stacked on one
  letter (the "zalgo" pile that spills over the lines around it);
- variation selectors not right after a letter or symbol.

A zero-width joiner survives only between two emoji ("👨‍👩‍👧" stays one picture). Text is NFC
normalised. Bios keep their line breaks (CR LF, CR and U+2028/U+2029 become LF; at most one
empty line in a row); tabs and other control white space become spaces.
"""

from __future__ import annotations

import re
import unicodedata

MAX_MARKS = 3
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_MARK_CATEGORIES = frozenset({"Mn", "Me"})
_EMOJI_CATEGORIES = frozenset({"So", "Sk"})
# Letters and symbols drawn as blank space: hangul fillers, the braille blank, the combining
# grapheme joiner and Khmer's invisible inherent vowels.
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")
_ZWJ = "\u200d"
_LINE_BREAKS = str.maketrans({"\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"})
_EMPTY_LINES = re.compile(r"\n{3,}")


def _is_variation_selector(ch: str) -> bool:
    return "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef"


def _keeps_joiner(text: str, index: int, last_base: str | None) -> bool:
    """A zero-width joiner between two emoji builds one emoji; anywhere else it hides."""
    following = text[index + 1] if index + 1 < len(text) else ""
    return (
        last_base is not None
        and unicodedata.category(last_base) in _EMOJI_CATEGORIES
        and following != ""
        and unicodedata.category(following) in _EMOJI_CATEGORIES
    )


def visible_text(value: str, *, multiline: bool = False) -> str:
    """`value` without invisible or control characters and mark piles, NFC, trimmed."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n"))
    if multiline:
        text = text.translate(_LINE_BREAKS)
    out: list[str] = []
    last_base: str | None = None  # the letter or symbol marks may still attach to
    marks = 0
    for index, ch in enumerate(text):
        category = unicodedata.category(ch)
        line_break = ch == "\n" and multiline
        if line_break or (ch == _ZWJ and _keeps_joiner(text, index, last_base)):
            out.append(ch)
            last_base = None
        elif ch.isspace():
            out.append(ch if category == "Zs" else " ")
            last_base = None
        elif category in _DROPPED_CATEGORIES or ch in _BLANK:
            continue
        elif _is_variation_selector(ch):
            if last_base is not None and out[-1] == last_base:
                out.append(ch)
        elif category in _MARK_CATEGORIES:
            if last_base is not None and marks < MAX_MARKS:
                out.append(ch)
                marks += 1
        else:
            out.append(ch)
            last_base, marks = ch, 0
    cleaned = unicodedata.normalize("NFC", "".join(out))
    if multiline:
        lines = (line.rstrip() for line in cleaned.split("\n"))
        cleaned = _EMPTY_LINES.sub("\n\n", "\n".join(lines))
    return cleaned.strip()


def clean_nickname(value: str) -> str:
    """The visible text of a nickname on one line, white space runs made one space ("" if none)."""
    return " ".join(visible_text(value).split())
