"""One search request run on an engine: what `indexer search` prints, and its exit code."""

from __future__ import annotations

from indexer.search.engine import SearchEngine, SearchOptions
from indexer.search.render import output
from indexer.search.request import Output, SearchRequest

__all__ = ["run"]


def run(engine: SearchEngine, request: SearchRequest) -> Output:
    """``request`` searched on ``engine`` and rendered as the command prints it (exit 1 with
    ``exit_status`` when nothing matched, else 0)."""
    options = SearchOptions(
        limit=request.limit,
        offset=request.offset,
        langs=request.langs,
        sources=request.sources,
        since=request.since,
        until=request.until,
        path=request.path,
        sort=request.sort,
        snippets=request.snippets,
        facets=request.facets,
        collapse=request.collapse,
        as_typed=request.as_typed,
    )
    if request.command == "similar":
        result = engine.similar(request.doc_id, options)
    else:
        result = engine.search(request.query, options)
    text = output(result, request.format, request.color, request.explain)
    return Output(text, 1 if request.exit_status and result.total == 0 else 0)
