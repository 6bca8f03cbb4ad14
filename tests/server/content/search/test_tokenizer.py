"""Tokens: CJK bigrams (and characters), whole words, one encoded parser word each."""

from __future__ import annotations

import re

from server.content.search import tokenizer
from server.content.search.queries import highlight
from server.content.search.service import document, plain_text

# InnoDB's default stopwords (MariaDB and MySQL).
STOPWORDS = set(
    [
        "a",
        "about",
        "an",
        "are",
        "as",
        "at",
        "be",
        "by",
        "com",
        "de",
        "en",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "la",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "who",
        "will",
        "with",
        "und",
        "www",
    ]
)


def test_cjk_runs_give_overlapping_pairs_and_words_stay_whole() -> None:
    assert list(tokenizer.words("Python入门：知识付费 C++ 2026年", unigrams=False)) == [
        "python", "入门", "知识", "识付", "付费", "c", "2026", "年",
    ]  # fmt: skip


def test_documents_also_carry_every_cjk_character() -> None:
    assert list(tokenizer.words("知识付", unigrams=True)) == ["知", "知识", "识", "识付", "付"]
    assert list(tokenizer.words("知", unigrams=True)) == ["知"]


def test_full_width_and_case_fold_to_one_form() -> None:
    assert tokenizer.query_tokens("ＰＹＴＨＯＮ") == tokenizer.query_tokens("python")


def test_punctuation_and_underscores_separate() -> None:
    assert list(tokenizer.words("a_b, c—d！", unigrams=False)) == ["a", "b", "c", "d"]
    assert tokenizer.query_tokens("，。！？ ... ___") == []


def test_every_token_is_one_parser_word_of_three_to_63_characters_and_no_stopword() -> None:
    samples = ["a", "i", "知", "知识", "the", "é", "x" * 31, "x" * 32, "🙂", "한국어"]
    for sample in samples:
        for token in tokenizer.document_tokens(sample):
            assert re.fullmatch(r"[0-9a-z]{3,63}", token), token
            assert token not in STOPWORDS
    assert tokenizer.encode("知") == "ze79fa5"
    assert tokenizer.encode("x" * 32).startswith("y") and len(tokenizer.encode("x" * 32)) == 41
    assert tokenizer.encode("x" * 32) != tokenizer.encode("x" * 33)


def test_query_tokens_are_distinct() -> None:
    # python, 知识, 识知 (知识 twice counts once)
    assert len(tokenizer.query_tokens("python python 知识知识")) == 3


def test_plain_text_keeps_words_and_drops_markup_and_urls() -> None:
    text = plain_text(
        "# 标题\n\nSome **bold** [link](https://x.example/secret) `code` ![图](a.png)"
    )
    assert "标题" in text and "bold" in text and "link" in text and "code" in text
    assert "图" in text and "secret" not in text and "**" not in text


def test_titles_weigh_more_than_bodies() -> None:
    tokens = document(title="alpha", summary="", body="beta", tags=["gamma"]).split()
    assert tokens.count(tokenizer.encode("alpha")) == 3
    assert tokens.count(tokenizer.encode("gamma")) == 2
    assert tokens.count(tokenizer.encode("beta")) == 1


def test_highlights_skip_text_whose_case_folding_changes_its_length() -> None:
    assert highlight("istanbul", ("İstanbul",)) is None
    assert highlight("istanbul", ("İstanbul", "Visit Istanbul")) == "Visit Istanbul"
    long = "前" * 40 + "知识付费" + "后" * 40
    assert highlight("知识付费", (long,)) == "…" + "前" * 30 + "知识付费" + "后" * 30 + "…"
