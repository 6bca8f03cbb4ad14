"""The output screen's releases and the price of a run, as units."""

from __future__ import annotations

import pytest

from server.screening.words import WordList
from server.tutor.runs import pricing
from server.tutor.runs.screen import OutputBlocked, OutputScreen

WORDS = WordList.of([("刷单返利", "scam"), ("double your bitcoin", "scam")])


def test_ordinary_text_is_released_at_once_and_whole() -> None:
    out = OutputScreen(WORDS)
    out.feed("Hel")
    assert out.release() == "Hel"
    out.feed("lo, 世界")
    assert out.release() == "lo, 世界"
    assert out.held == ""
    assert out.release() == ""


def test_only_a_tail_that_could_begin_a_term_waits_for_what_follows() -> None:
    out = OutputScreen(WORDS)
    out.feed("今天讲一讲刷单")
    assert out.release() == "今天讲一讲"
    assert out.held == "刷单"
    out.feed("的危害。")
    assert out.release() == "刷单的危害。"
    out.feed("Let us double y")
    assert out.release() == "Let us "
    assert out.held == "double y"
    out.feed("ou up")
    assert out.release() == "double you up"


def test_a_term_split_across_releases_never_shows_its_beginning() -> None:
    out = OutputScreen(WORDS)
    shown = ""
    with pytest.raises(OutputBlocked):
        for piece in ["前面没问题的话", "然后 刷", "单", "返", "利 赚钱"]:
            out.feed(piece)
            shown += out.release()
    assert shown == "前面没问题的话然后 "
    assert "刷" not in shown


def test_a_disguised_term_is_held_and_blocked_too() -> None:
    out = OutputScreen(WORDS)
    shown = ""
    with pytest.raises(OutputBlocked):
        for piece in ["Want to ", "DOU", "ble  ", "yоur ", "bitcoin", "?"]:  # a Cyrillic о
            out.feed(piece)
            shown += out.release()
    assert shown == "Want to "


def test_a_term_split_by_separators_is_held_while_it_could_still_complete() -> None:
    out = OutputScreen(WORDS)
    out.feed("好的 刷 . 单 ")
    assert out.release() == "好的 "
    out.feed("就到这里")
    assert out.release() == "刷 . 单 就到这里"


def test_flush_releases_the_rest_once_screened() -> None:
    out = OutputScreen(WORDS)
    out.feed("结尾是刷单")
    assert out.release() == "结尾是"
    assert out.flush() == "刷单"
    assert out.flush() == ""
    out.feed("最后刷单返利")
    with pytest.raises(OutputBlocked):
        out.flush()


@pytest.mark.parametrize(
    ("prompt", "completion", "p", "c", "expected"),
    [(1000, 0, 1, 0, 1), (1, 0, 1, 0, 1), (1500, 500, 2, 4, 5), (0, 0, 5, 5, 0), (999, 1, 1, 1, 1)],
)
def test_the_price_is_rounded_up_once_per_run(
    prompt: int, completion: int, p: int, c: int, expected: int
) -> None:
    assert pricing.cost(prompt, completion, p=p, c=c) == expected


def test_a_hold_lowers_max_tokens_to_the_balance_and_refuses_below_the_minimum() -> None:
    assert pricing.size_hold(
        prompt_tokens=1000, max_tokens=1000, min_tokens=64, balance=10_000, p=1000, c=1000
    ) == pricing.Hold(2000, 1000)
    lowered = pricing.size_hold(
        prompt_tokens=1000, max_tokens=1000, min_tokens=64, balance=1500, p=1000, c=1000
    )
    assert lowered == pricing.Hold(1500, 500)
    assert (
        pricing.size_hold(
            prompt_tokens=1000, max_tokens=1000, min_tokens=64, balance=1050, p=1000, c=1000
        )
        is None
    )
    assert pricing.credits_needed(prompt_tokens=1000, min_tokens=64, p=1000, c=1000) == 1064
