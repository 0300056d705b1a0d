"""A scored collector whose per-hit step is a public method of ours.

Whoosh's ``ScoredCollector.collect`` scores the match and hands it to the private
``_collect(global_docnum, score)``, whose return value sorts the hits; ``TopCollector``
keeps its heap in ``items`` and its page's lowest score in ``minscore``.
"""

from __future__ import annotations

from whoosh import collectors

__all__ = ["ScoreCollector"]


class ScoreCollector(collectors.TopCollector):  # type: ignore[misc]
    """``TopCollector`` with its per-hit step in ``take``."""

    def take(self, global_docnum: int, score: float) -> float:
        """Collect one scored match; returns its sort key (lower sorts first)."""
        raise NotImplementedError

    def _collect(self, global_docnum: int, score: float) -> float:
        return self.take(global_docnum, score)
