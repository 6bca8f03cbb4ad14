"""GB 11643-1999 resident ID numbers and real names: what is accepted, what is refused, masking."""

from __future__ import annotations

import pytest

from server.identity.creators.resident_id import (
    check_digit,
    mask_id_number,
    mask_real_name,
    normalise_id_number,
    normalise_real_name,
)


def test_the_check_digit_follows_iso_7064_mod_11_2() -> None:
    # The standard's published examples.
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"
    assert check_digit("44052419880101001") == "1"


@pytest.mark.parametrize("number", ["11010519491231002X", "440524198801010011"])
def test_a_valid_number_is_accepted(number: str) -> None:
    assert normalise_id_number(number) == number


def test_a_lower_case_x_and_surrounding_spaces_are_normalised() -> None:
    assert normalise_id_number(" 11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105194912310021", "check digit"),  # the right one is X
        ("440524198801010012", "check digit"),
        ("44052419880101001X", "check digit"),
        ("110105194913310020", "birth date"),  # month 13
        ("110105194902300020", "birth date"),  # 30 February
        ("110105289901010020", "birth date"),  # in the future
        ("110105189901010020", "birth date"),  # before 1900
        ("990105194912310020", "region"),
        ("100105194912310020", "region"),
        ("110000194912310020", "region"),
        ("11010519491231002", "17 digits"),
        ("1101051949123100211", "17 digits"),
        ("11010519491231002Y", "17 digits"),
        ("X10105194912310021", "17 digits"),
    ],
)
def test_an_invalid_number_is_refused_with_the_reason(number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_id_number(number)


def test_a_birth_date_check_uses_the_real_calendar() -> None:
    leap = "11010520000229" + "002"
    assert normalise_id_number(leap + check_digit(leap)) == leap + check_digit(leap)
    not_leap = "11010519000229" + "002"
    with pytest.raises(ValueError, match="birth date"):
        normalise_id_number(not_leap + check_digit(not_leap))


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("张三", "张三"),
        (" 欧阳 ", "欧阳"),
        ("买买提•艾力", "买买提·艾力"),
        ("John  Smith", "John Smith"),
        ("Zoë O'Neil-Brown", "Zoë O'Neil-Brown"),
    ],
)
def test_real_names_in_chinese_or_latin_are_accepted(raw: str, name: str) -> None:
    assert normalise_real_name(raw) == name


@pytest.mark.parametrize("raw", ["张", "A", "张三3", "Ivan Иванов", "张 San", "x" * 31, "<b>", ""])
def test_other_names_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_real_name(raw)


def test_masks_keep_only_what_identifies_nothing() -> None:
    assert mask_real_name("张三") == "张*"
    assert mask_real_name("欧阳修") == "欧**"
    assert mask_id_number("11010519491231002X") == "1101**********002X"
