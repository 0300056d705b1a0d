"""A fuzzy term whose words a subclass lists, instead of Whoosh's automaton walk.

Whoosh's multi-term queries (``FuzzyTerm`` among them) ask their private ``_btexts``
for the words they stand for, when matching, counting and highlighting alike.
"""

from __future__ import annotations

from typing import Any

from whoosh import query as wq

__all__ = ["ListedFuzzyTerm"]


class ListedFuzzyTerm(wq.FuzzyTerm):  # type: ignore[misc]
    """A ``FuzzyTerm`` that stands for the words ``words_in`` gives."""

    def words_in(self, reader: Any, contains: Any = None) -> list[bytes | str]:
        """The words (bytes) it stands for in ``reader``."""
        raise NotImplementedError

    def automaton_words(self, reader: Any) -> list[bytes | str]:
        """The words Whoosh's own ``FuzzyTerm`` finds in ``reader`` (its automaton; str,
        where the listed words are bytes)."""
        return list(super()._btexts(reader))

    def _btexts(self, ixreader: Any) -> list[bytes | str]:
        return self.words_in(ixreader)
