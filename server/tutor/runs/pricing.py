"""What a run costs and what it is held for: credits per 1,000 prompt tokens (P) and per 1,000
completion tokens (C), rounded up once per run."""

from __future__ import annotations

from dataclasses import dataclass


def cost(prompt_tokens: int, completion_tokens: int, *, p: int, c: int) -> int:
    """`ceil((prompt_tokens * P + completion_tokens * C) / 1000)`, in integers."""
    return -(-(prompt_tokens * p + completion_tokens * c) // 1000)


@dataclass(frozen=True, slots=True)
class Hold:
    credits: int
    max_tokens: int


def size_hold(
    *, prompt_tokens: int, max_tokens: int, min_tokens: int, balance: int, p: int, c: int
) -> Hold | None:
    """The most a run can cost, with `max_tokens` lowered to what `balance` covers; None when it
    cannot cover the prompt and `min_tokens` of output."""
    full = cost(prompt_tokens, max_tokens, p=p, c=c)
    if full <= balance:
        return Hold(full, max_tokens)
    if c == 0:
        return None  # the prompt alone is more than the balance
    affordable = (balance * 1000 - prompt_tokens * p) // c
    if affordable < min_tokens:
        return None
    lowered = min(max_tokens, affordable)
    return Hold(cost(prompt_tokens, lowered, p=p, c=c), lowered)


def credits_needed(*, prompt_tokens: int, min_tokens: int, p: int, c: int) -> int:
    """The fewest credits a run needs: its prompt and the shortest answer allowed."""
    return cost(prompt_tokens, min_tokens, p=p, c=c)
