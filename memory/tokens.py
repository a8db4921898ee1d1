"""Token counting for context budgets.

The engine passes the loaded model's own counter; without a model the
service estimates, erring on the high side so a budget is never overrun by
much when the real tokenizer is swapped in.
"""

from __future__ import annotations

import math
import re
from typing import Protocol

_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...


class EstimatedTokenCounter:
    """About 1.3 tokens a word and one a punctuation mark, or chars/4 if more."""

    def count(self, text: str) -> int:
        if not text:
            return 0
        pieces = _WORDS.findall(text)
        words = sum(1 for p in pieces if p[0].isalnum() or p[0] == "_")
        marks = len(pieces) - words
        return max(math.ceil(words * 1.3 + marks), math.ceil(len(text) / 4))
