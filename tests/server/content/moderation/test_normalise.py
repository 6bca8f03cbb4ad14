"""Normalisation and matching: disguised terms are found, clean text passes, lists load."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from server.screening import screen, words
from server.screening.normalise import compact, normalise
from server.settings import Settings

WORD_LIST = words.WordList.of(
    [("免费领取", "spam"), ("赌博网站", "gambling"), ("casino", "gambling"), ("scam coin", "scam")]
)


def terms(text: str) -> list[str]:
    return sorted({match.term for match in WORD_LIST.find(text)})


@pytest.mark.parametrize(
    "text",
    [
        "免费领取",
        "快来免费领取吧",
        "免\u200b费\u200d领\ufeff取",  # zero-width space, joiner, BOM inside the term
        "免\u00ad费\u2060领\u2063取",  # soft hyphen, word joiner, invisible separator
        "免費領取",  # traditional characters
        "免 费 领 取",  # spaces between the characters
        "免.费-领*取",  # punctuation between them
        "免　费，领_取",  # ideographic space, fullwidth comma, underscore
        "免\u0336费\u20dd领取",  # combining overlay and enclosing circle
    ],
)
def test_disguised_chinese_terms_are_found(text: str) -> None:
    assert terms(text) == ["免费领取"]


@pytest.mark.parametrize(
    "text",
    [
        "Best CASINO in town",
        "ｃａｓｉｎｏ",  # fullwidth
        "ca\u200bsi\u200cno",  # zero-width inside
        "c\u0301asino",  # a combining accent
        "cásino",  # a composed one
        "visit the casino.",
        "网上casino平台",  # next to Chinese characters
    ],
)
def test_disguised_latin_terms_are_found(text: str) -> None:
    assert terms(text) == ["casino"]


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("c\u0430sino", "casino"),  # Cyrillic а
        ("\u0421\u0410SINO", "casino"),  # Cyrillic capitals С and А
        ("c\u03b1sin\u03bf", "casino"),  # Greek α and ο
        ("\u0441\u0430\u0455\u0456n\u043e", "casino"),  # all Cyrillic but the n
        ("sc\u0251m c\u1d0fin", "scam coin"),  # Latin alpha, small capital o
        ("ｓｃａｍ ｃ\u043eｉｎ", "scam coin"),  # fullwidth with a Cyrillic о
    ],
)
def test_latin_terms_spelt_with_look_alike_letters_are_found(text: str, term: str) -> None:
    assert terms(text) == [term]


def test_look_alike_folding_keeps_terms_of_other_scripts_matching_in_either_case() -> None:
    cyrillic = words.WordList.of([("мошенник", "scam")])
    assert [m.term for m in cyrillic.find("МОШЕННИК")] == [normalise("мошенник")]
    assert [m.term for m in cyrillic.find("Мошенник!")] == [normalise("мошенник")]
    greek = words.WordList.of([("απατη", "scam")])
    assert len(list(greek.find("ΑΠΑΤΗ"))) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("免费课程", "免费课程"),
        ("詐騙集團", "诈骗集团"),  # only made simplified
        ("한국어 문장", "한국어 문장"),
        ("ひらがなとカタカナ", "ひらがなとカタカナ"),
        ("ｏ免费", "o免费"),  # a fullwidth o next to Chinese is still folded
        ("مرحبا", "مرحبا"),
        ("שלום", "שלום"),
        ("नमस्ते", "नमस्ते"),
    ],
)
def test_look_alike_folding_leaves_cjk_and_other_scripts_alone(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_latin_terms_match_whole_words_only() -> None:
    assert terms("casinos") == []
    assert terms("mycasino") == []
    assert terms("casino2") == []
    assert terms("SCAM   coin") == ["scam coin"]
    assert terms("scamcoin") == []


@pytest.mark.parametrize(
    "text",
    ["知识付费入门", "免费课程，领取资料", "a class about classes", "", "赌博 是 违法的 网站"],
)
def test_clean_text_passes(text: str) -> None:
    assert terms(text) == []


def test_normalise_steps() -> None:
    assert normalise("ＦＲＥＥ Straße") == "free strasse"
    assert normalise("詐騙") == "诈骗"
    assert normalise("a\u200bb\ufeffc\u00add") == "abcd"
    assert normalise("Café") == "cafe"
    assert normalise("한국어 が") == "한국어 が"
    assert normalise("") == ""
    assert compact("付 费.课-程!") == "付费课程"


def test_screening_names_fields_and_categories_but_not_terms() -> None:
    result = screen(
        {"title": "赌博网站大全", "summary": "nothing", "body": "免费领取 and casino, casino"},
        WORD_LIST,
    )
    assert not result.ok
    assert result.fields() == {"title": ["gambling"], "body": ["gambling", "spam"]}
    assert result.categories == ["gambling", "spam"]
    assert "赌博" not in result.reason and "casino" not in result.reason
    assert "title: gambling" in result.reason and "body: gambling, spam" in result.reason
    shape = result.as_dict()
    assert shape["ok"] is False and shape["reason"] == result.reason
    assert sorted((h["field"], h["term"]) for h in shape["hits"]) == [
        ("body", "casino"),
        ("body", "免费领取"),
        ("title", "赌博网站"),
    ]
    clean = screen({"body": "hello"}, WORD_LIST)
    assert clean.ok and clean.reason == "" and clean.as_dict()["hits"] == []


def test_a_long_body_screens_in_one_pass() -> None:
    """About 200 KB of mixed text with a hit at the very end (no timing asserted: it must
    simply finish, as one automaton pass over the normalised text)."""
    filler = "这是一段正常的中文内容, with English words and 数字 12345. " * 3500
    body = filler + "免 费 领 取"
    assert len(body.encode()) > 200_000
    assert terms(body) == ["免费领取"]
    assert terms(filler) == []


def test_the_builtin_list_is_normalised_and_categorised() -> None:
    builtin = words.load(None)
    assert len(builtin) == len(words.BUILTIN)
    found = {(m.term, m.category) for m in builtin.find("代開發票, DOUBLE your Bitcoin")}
    assert found == {("代开发票", "illegal_goods"), ("double your bitcoin", "scam")}
    assert len(words.load(None, builtin=False)) == 0
    assert list(words.load(None, builtin=False).find("代开发票")) == []


def test_a_word_file_adds_terms_and_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("\ufeff# comment\n\n 付费群 \tSpam\n黑產\n", encoding="utf-8")
    listed = words.load(path, builtin=False)
    assert {(m.term, m.category) for m in listed.find("付 费 群 和 黑产")} == {
        ("付费群", "spam"),
        ("黑产", words.DEFAULT_CATEGORY),
    }
    path.write_text("新词\tother\nand a much longer line to change the size\n", encoding="utf-8")
    reread = words.load(path, builtin=False)
    assert [m.term for m in reread.find("付费群 新词")] == ["新词"]


def test_lines_and_terms_that_normalise_to_nothing_are_skipped() -> None:
    assert words.parse_file("\tspam\n  \n\u200b\n") == [("\u200b", words.DEFAULT_CATEGORY)]
    assert len(words.WordList.of([("\u200b\u00ad", "spam"), ("", "spam")])) == 0


def test_a_bad_category_names_its_line() -> None:
    with pytest.raises(words.InvalidWordList, match=r"list\.txt:2"):
        words.parse_file("ok\nbad\tno spaces\n", source="list.txt")


def test_the_words_file_setting_must_name_a_usable_file(tmp_path: Path) -> None:
    assert Settings(moderation_words_file="").moderation_words_file is None
    with pytest.raises(ValidationError, match="existing file"):
        Settings(moderation_words_file=tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("term\tBad Category\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="category"):
        Settings(moderation_words_file=bad)
    good = tmp_path / "good.txt"
    good.write_text("term\n", encoding="utf-8")
    assert Settings(moderation_words_file=str(good)).moderation_words_file == good
