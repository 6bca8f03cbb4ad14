"""The output screen's windows and the price of a run, as units."""

from __future__ import annotations

import pytest

from server.screening.words import WordList
from server.tutor.runs import pricing
from server.tutor.runs.screen import OutputBlocked, OutputScreen

WORDS = WordList.of([("刷单返利", "scam"), ("double your bitcoin", "scam")])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def screen(clock: Clock, chars: int = 40) -> OutputScreen:
    return OutputScreen(WORDS, window_seconds=0.15, window_chars=chars, clock=clock)


def test_a_window_closes_at_a_sentence_end_and_releases_all_of_it() -> None:
    out = screen(Clock())
    assert out.feed("你好") == ""
    assert out.feed("，世界。") == "你好，世界。"
    assert out.held == ""


def test_a_window_closed_by_age_keeps_back_what_could_start_a_term() -> None:
    clock = Clock()
    out = screen(clock)
    assert out.feed("这是一段很长的话然后") == ""
    clock.now = 0.2
    released = out.due()
    # The longest term has 19 characters: up to 18 (spaces not counted) wait for the next window.
    assert released == ""
    assert out.held == "这是一段很长的话然后"
    out.feed("我们继续讲下去，一直讲到这里为止，不停地讲啊讲")
    clock.now = 0.4
    released = out.due()
    assert released.startswith("这是一段很长的话然后我们")
    assert (
        released + out.held == "这是一段很长的话然后我们继续讲下去，一直讲到这里为止，不停地讲啊讲"
    )
    assert len(out.held) == 18


def test_a_term_split_across_windows_never_shows_its_beginning() -> None:
    clock = Clock()
    out = screen(clock, chars=10)
    shown = ""
    with pytest.raises(OutputBlocked):
        for piece in ["前面没问题的话", "然后 刷", "单", "返", "利 赚钱"]:
            shown += out.feed(piece)
            clock.now += 0.2
            shown += out.due()
    assert "刷" not in shown


def test_a_latin_term_split_across_windows_is_blocked() -> None:
    out = screen(Clock(), chars=8)
    shown = ""
    with pytest.raises(OutputBlocked):
        for piece in ["Want to ", "double ", "your ", "bitcoin", "?"]:
            shown += out.feed(piece)
    assert "double" not in shown


def test_flush_releases_the_rest_once_screened() -> None:
    clock = Clock()
    out = screen(clock)
    out.feed("没有句号的结尾")
    assert out.flush() == "没有句号的结尾"
    assert out.flush() == ""


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
