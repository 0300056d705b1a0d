"""Search results as text lines and as JSON-able dicts; the CLI only prints what these return.

The JSON field names are a contract (listed in the README): add fields freely, but
rename or remove one only with a new FORMAT_VERSION.
"""

from __future__ import annotations

import html
import json
from datetime import date, datetime
from typing import Any

from indexer.ingest.paths import printable
from indexer.search.engine import FacetCount, Hit, SearchResult
from indexer.search.snippets import MARK_END, MARK_START

__all__ = ["FORMAT_VERSION", "hit_dict", "jsonl_records", "output", "result_dict", "text_lines"]

FORMAT_VERSION = 1

_BOLD, _MATCH, _DIM, _RESET = "\x1b[1m", "\x1b[1;33m", "\x1b[2m", "\x1b[0m"


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _snippet_html(snippet: str) -> str:
    """The snippet as HTML: the text escaped, the matched words in <b>."""
    return html.escape(snippet, quote=False).replace(MARK_START, "<b>").replace(MARK_END, "</b>")


def hit_dict(hit: Hit, rank: int) -> dict[str, Any]:
    return {
        "rank": rank,
        "id": hit.id,
        "title": hit.title,
        "title_derived": hit.title_derived,
        "path": hit.path,
        "paths": hit.paths or [hit.path],
        "byline": hit.byline,
        "language": hit.language,
        "source": hit.source,
        "published": _iso(hit.published),
        "ingested": _iso(hit.ingested),
        "score": hit.score,
        "cluster": hit.cluster,
        "near_duplicates": hit.near_duplicates,
        "snippet": _snippet_html(hit.snippet),
    }


def _facets(facets: dict[str, list[FacetCount]] | None) -> dict[str, list[dict[str, Any]]] | None:
    if facets is None:
        return None
    return {name: [{"value": f.value, "count": f.count} for f in counts] for name, counts in facets.items()}


def _summary(result: SearchResult, explain: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "query": result.query,
        "total": result.total,
        "hits_total": result.hits_total,
        "total_exact": result.total_exact,
        "offset": result.offset,
        "limit": result.limit,
        "sort": result.sort,
        "took_ms": result.took_ms,
        "fallback": result.fallback,
        "suggestion": result.suggestion,
        "suggestion_total": result.suggestion_total,
        "corrected": result.corrected,
        "facets": _facets(result.facets),
        "explain": None,
    }
    if result.similar_to is not None:
        data["similar_to"] = result.similar_to
        data["key_terms"] = result.key_terms
    if explain:
        data["explain"] = {
            "parsed": result.parsed,
            "expanded": result.expanded,
            "filters": result.filters or None,
        }
    return data


def result_dict(result: SearchResult, explain: bool = False) -> dict[str, Any]:
    """The whole result as one JSON object (``--format json``)."""
    first = result.offset + 1
    return {**_summary(result, explain), "hits": [hit_dict(h, r) for r, h in enumerate(result.hits, first)]}


def jsonl_records(result: SearchResult, explain: bool = False) -> list[dict[str, Any]]:
    """``--format jsonl``: a ``"type": "result"`` line without the hits, then one per hit."""
    first = result.offset + 1
    return [
        {"type": "result", **_summary(result, explain)},
        *({"type": "hit", **hit_dict(h, r)} for r, h in enumerate(result.hits, first)),
    ]


def _marks(text: str, color: bool) -> str:
    start, end = (_MATCH, _RESET) if color else ("[", "]")
    return text.replace(MARK_START, start).replace(MARK_END, end)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def text_lines(result: SearchResult, color: bool = False, explain: bool = False) -> list[str]:
    """The result as lines of text: a header, notes, the hits, the facets."""
    lines: list[str] = []
    if explain:
        lines.append(f"query:    {result.parsed}")
        if result.expanded != result.parsed:
            lines.append(f"searched: {result.expanded}")
        if result.filters:
            lines.append(f"filters:  {result.filters}")
        lines.append("")
    if result.similar_to is not None:
        lines.append("key terms: " + (", ".join(result.key_terms) or "(none)"))
    if result.similar_to is not None:
        verb, subject = ("is" if result.total == 1 else "are"), f"like {result.similar_to}"
    else:
        searched = result.suggestion if result.corrected and result.suggestion else result.query
        verb, subject = ("matches" if result.total == 1 else "match"), repr(searched)
    if result.total == 0:
        narrowed = f" with {result.options_text}" if result.options_text else ""
        lines.append(
            f"no documents {'are' if result.similar_to is not None else 'match'} {subject}{narrowed} (total: 0)"
        )
    else:
        shown = len(result.hits)
        at_least = "" if result.total_exact else "at least "
        head = f"{at_least}{_count(result.total, 'document')} {verb} {subject}"
        if result.hits_total != result.total:
            head += f", {at_least}{_count(result.hits_total, 'hit')} with near-duplicates folded"
        if shown:
            head += f"; showing {result.offset + 1}-{result.offset + shown}"
        elif result.limit:
            head += f"; none from {result.offset + 1}"
        if result.sort != "relevance":
            head += f", {result.sort} first"
        lines.append(head + f" ({result.took_ms:.0f} ms)")
    if result.fallback:
        lines.append("no document contains all the words: showing documents with any of them")
    if result.corrected:
        lines.append(
            f"showing results for {result.suggestion!r}; search instead for {result.query!r} with --as-typed"
        )
    elif result.suggestion:
        lines.append(
            f"did you mean: {result.suggestion}  ({_count(result.suggestion_total or 0, 'document')})"
        )
    for rank, hit in enumerate(result.hits, start=result.offset + 1):
        lines.extend(_hit_lines(hit, rank, color))
    if result.facets is not None:
        lines.append("")
        for name, counts in result.facets.items():
            values = " · ".join(f"{c.value or '(none)'} {c.count}" for c in counts) or "-"
            lines.append(f"{name + ':':<10}{values}")
    return lines


def _hit_lines(hit: Hit, rank: int, color: bool) -> list[str]:
    title = hit.title or "(untitled)"
    day = hit.published or (f"added {hit.ingested.date()}" if hit.ingested else None)
    facts = " · ".join(str(x) for x in (hit.language, hit.source, day) if x)
    where = f"{printable(hit.path)}  (id {hit.id})"
    if len(hit.paths) > 1:
        where += f"  +{len(hit.paths) - 1} more {'path' if len(hit.paths) == 2 else 'paths'}"
    if hit.near_duplicates:
        ids = ", ".join(str(i) for i in hit.near_duplicates[:10])
        more = ", …" if len(hit.near_duplicates) > 10 else ""
        where += f"  +{len(hit.near_duplicates)} similar: {ids}{more}"
    lines = ["", f"{rank:>3}. " + (f"{_BOLD}{title}{_RESET}" if color else title) + f"  [{facts}]"]
    lines.append(f"     {_DIM}{where}{_RESET}" if color else f"     {where}")
    if hit.snippet:
        lines.append(f"     {_marks(hit.snippet, color)}")
    return lines


CSV_FIELDS = (
    "rank",
    "id",
    "title",
    "path",
    "language",
    "source",
    "published",
    "ingested",
    "score",
    "cluster",
    "near_duplicates",
    "snippet",
)


def csv_text(result: SearchResult) -> str:
    """The hits as CSV, a header line first: the JSON hit fields, lists joined by "; "."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for rank, hit in enumerate(result.hits, result.offset + 1):
        row = hit_dict(hit, rank)
        row["near_duplicates"] = "; ".join(map(str, row["near_duplicates"]))
        writer.writerow(["" if row[f] is None else row[f] for f in CSV_FIELDS])
    return out.getvalue()


def output(result: SearchResult, fmt: str = "text", color: bool = False, explain: bool = False) -> str:
    """Everything `indexer search` prints for ``result``, ending in a newline."""
    if fmt == "json":
        return json.dumps(result_dict(result, explain), ensure_ascii=False, indent=2) + "\n"
    if fmt == "paths":  # one a line, escaped as everywhere (a newline in a name stays on its line)
        return "".join(printable(path) + "\n" for hit in result.hits for path in (hit.paths or [hit.path]))
    if fmt == "count":
        return f"{result.total}\n"
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in jsonl_records(result, explain))
    if fmt == "csv":
        return csv_text(result)
    return "\n".join(text_lines(result, color=color, explain=explain)) + "\n"
