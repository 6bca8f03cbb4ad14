"""PRC resident identity numbers (GB 11643-1999) and real names: validation and masking."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# Weights of positions 1..17: 2^(17 - i) mod 11 (ISO 7064 MOD 11-2).
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"  # indexed by the weighted sum mod 11
# First two digits: the province-level division (GB/T 2260), including Hong Kong, Macao, Taiwan.
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
_SHAPE = re.compile(r"^\d{17}[\dX]$")
# CJK ideographs (with the middle dot of minority and foreign names) or latin letters.
_CJK_NAME = re.compile(
    r"^[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]+(?:[·•][\u3400-\u9fff]+)*$"
)
_LATIN_NAME = re.compile(r"^[A-Za-z\u00c0-\u024f]+(?:[ .'\-][A-Za-z\u00c0-\u024f]+)*\.?$")


def check_digit(first17: str) -> str:
    """The 18th character that GB 11643-1999 computes from the first seventeen digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def birth_date(number: str) -> date | None:
    """The birth date encoded in positions 7-14, or None if it is not a real past date."""
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    return born if date(1900, 1, 1) <= born <= date.today() else None


def normalise_id_number(value: str) -> str:
    """The number upper-cased and trimmed if it is a valid 18-character resident ID; else
    ValueError saying what is wrong."""
    number = value.strip().upper()
    if not _SHAPE.match(number):
        raise ValueError("An ID number is 17 digits and a final digit or X.")
    if int(number[:2]) not in _PROVINCES or number[2:6] == "0000":
        raise ValueError("The ID number's region code is not valid.")
    if birth_date(number) is None:
        raise ValueError("The ID number's birth date is not valid.")
    if check_digit(number[:17]) != number[17]:
        raise ValueError("The ID number's check digit is wrong.")
    return number


def normalise_real_name(value: str) -> str:
    """The name as on the ID card: NFKC, single spaces, 2-30 CJK or latin characters."""
    name = " ".join(unicodedata.normalize("NFKC", value).split()).replace("•", "·")
    if not 2 <= len(name) <= 30:
        raise ValueError("A real name is 2 to 30 characters.")
    if not (_CJK_NAME.match(name) or _LATIN_NAME.match(name)):
        raise ValueError("A real name is written in Chinese characters or latin letters.")
    return name


def mask_id_number(number: str) -> str:
    """`110101199003071234` -> `1101**********1234`."""
    return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}"


def mask_real_name(name: str) -> str:
    """`张三` -> `张*`: the first character, the rest hidden."""
    return name[:1] + "*" * (len(name) - 1)
