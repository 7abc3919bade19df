"""A deterministic stand-in for Claude's tokenizer.

Claude's tokenizer is not public; the API's ``count_tokens`` is the truth. This one aims to be
stable and plausible, not exact:

- text is split into runs of letters, digits, single punctuation marks and whitespace
  (a regex pre-tokenizer, as byte-pair tokenizers do before merging);
- a letter run costs one token per started 6 characters, so "the" is 1, "conversation" 2,
  "internationalization" 4; ordinary English comes out near 1.3 tokens per word;
- a digit run costs one token per started 3 digits ("2023" is 2);
- a run of punctuation costs one token per started 2 characters (BPE vocabularies merge common
  pairs such as ``":`` or ``},``, so JSON is not billed a token per quote); a whitespace run
  costs 0 after a word (it merges into the next token, as " word" does) but newlines cost 1 each;
- non-ASCII letters cost one token per character (CJK and emoji are expensive in real
  tokenizers too).

Tokenizer generations: the catalog names one per model. Claude Opus 4.7 and later models
(Sonnet 5, Opus 5, Fable 5, Mythos 5, ...) use a newer tokenizer that the token counting page
(https://platform.claude.com/docs/en/build-with-claude/token-counting) says produces
"approximately 30 percent more tokens" for the same text; the ``claude-5`` generation
multiplies counts by 1.3 (rounded up). Counts are memoized per string.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from convolab.errors import ConfigurationError

_LETTERS = re.compile(r"[A-Za-z]+")
_LONG_LETTERS = re.compile(r"[A-Za-z]{7,}")
_DIGITS = re.compile(r"[0-9]+")
_LONG_DIGITS = re.compile(r"[0-9]{4,}")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_SYMBOLS = re.compile(r"[^\sA-Za-z0-9\x80-\U0010ffff]+")  # runs of ASCII punctuation / control characters

GENERATION_FACTORS = {"claude-4": 1.0, "claude-5": 1.3}


@lru_cache(maxsize=1 << 16)
def _base_count(text: str) -> int:
    """Line by line (no piece spans a newline; each newline costs 1), so the lines that come back
    inside new texts (excerpts, summaries, a memory's system prompt) are counted once."""
    if "\n" not in text:
        return _line_count(text)
    lines = text.split("\n")
    return sum(_line_count(line) for line in lines) + len(lines) - 1


@lru_cache(maxsize=1 << 16)
def _line_count(text: str) -> int:
    # Each rule of the module docstring as one C-level regex pass (no Python loop per piece).
    n = len(_LETTERS.findall(text)) + sum((len(w) - 1) // 6 for w in _LONG_LETTERS.findall(text))
    n += len(_DIGITS.findall(text)) + sum((len(d) - 1) // 3 for d in _LONG_DIGITS.findall(text))
    n += sum((len(p) + 1) // 2 for p in _SYMBOLS.findall(text))
    return n + len(_NON_ASCII.findall(text))


class Tokenizer:
    """Counts tokens of text for one tokenizer generation (see the module docstring)."""

    def __init__(self, generation: str = "claude-4"):
        if generation not in GENERATION_FACTORS:
            raise ConfigurationError(f"unknown tokenizer generation {generation!r}; known: {sorted(GENERATION_FACTORS)}")
        self.generation = generation
        self.factor = GENERATION_FACTORS[generation]

    def count(self, text: str) -> int:
        base = _base_count(text)
        return base if self.factor == 1.0 else math.ceil(base * self.factor)

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` (cut at a piece boundary) within ``max_tokens``."""
        if self.count(text) <= max_tokens:
            return text
        lo, hi = 0, len(text)
        while lo < hi:  # binary search on character length
            mid = (lo + hi + 1) // 2
            if self.count(text[:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo]

    def __repr__(self) -> str:
        return f"Tokenizer({self.generation!r})"
