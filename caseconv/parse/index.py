"""Indexes over a parsed document, so that each look-up costs a bisection, not a scan.

A report has a few hundred tokens, but hostile input (a megabyte of "no mass (") has
hundreds of thousands of matches: every per-sentence or per-mention look-up must stay
logarithmic for the parse to stay linear.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ByStart(Generic[T]):
    """Items sorted by a start position, with the items starting in a range."""

    def __init__(self, items: Sequence[T], start: Callable[[T], int]) -> None:
        self.items = sorted(items, key=start)
        self._starts = [start(item) for item in self.items]

    def between(self, low: int, high: int) -> list[T]:
        """The items whose start is in ``[low, high)``."""
        return self.items[bisect_left(self._starts, low): bisect_left(self._starts, high)]

    def at(self, position: int) -> list[T]:
        return self.items[bisect_left(self._starts, position): bisect_right(self._starts, position)]


class Sentences:
    """The sentence each token belongs to, without walking the document.

    Build it with `sentences` once the pipeline has set the sentence starts: spaCy's
    ``doc.sents`` walks every token on each call.
    """

    def __init__(self, doc: Any) -> None:
        self.spans = list(doc.sents)
        self._starts = [s.start for s in self.spans]

    def of(self, token: int) -> Any:
        """The sentence (a spaCy span) holding token index ``token``."""
        return self.spans[bisect_right(self._starts, token) - 1]


def sentences(doc: Any) -> Sentences:
    """The document's sentences, found once and kept with the document."""
    found = doc.user_data.get("caseconv_sentences")
    if found is None:
        found = doc.user_data["caseconv_sentences"] = Sentences(doc)
    return found
