"""Date values in queries and options: ``2025``, ``2025-12``, ``2025-12-03``, ``7d``, ``today``.

Every value names a span of whole days, ``[start, end)``: a year, a month, a day, or
for a relative value (``7d``, ``2w``, ``3m``, ``1y``: that long before today) the one day
it lands on. Ranges are built from spans, so ``[2025-01 to 2025-06]`` ends on the last
day of June (Whoosh's own date parser stretches the end of such a range to December).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

__all__ = ["DateError", "Span", "bounds", "parse_date", "to_utc"]

_ISO = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")
_RELATIVE = re.compile(r"(\d{1,5})([dwmy])")
DATE_HINT = "dates are YYYY, YYYY-MM, YYYY-MM-DD, today, yesterday or relative like 7d, 2w, 3m, 1y"


class DateError(ValueError):
    """A value that is not one of the date forms above."""


@dataclass(frozen=True)
class Span:
    start: date  # first day of the span
    end: date  # first day after it


def _add_months(day: date, months: int) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def parse_date(text: str, today: date) -> Span:
    """The span of days that ``text`` names, or raise DateError."""
    value = text.strip().lower()
    if value in ("today", "yesterday"):
        day = today - timedelta(days=0 if value == "today" else 1)
        return Span(day, day + timedelta(days=1))
    if m := _RELATIVE.fullmatch(value):
        n, unit = int(m.group(1)), m.group(2)
        if unit in "dw":
            day = today - timedelta(days=n * (7 if unit == "w" else 1))
        else:
            day = _add_months(today, -n * (12 if unit == "y" else 1))
        return Span(day, day + timedelta(days=1))
    if m := _ISO.fullmatch(value):
        year_digits, month_digits, day_digits = m.groups()
        year = int(year_digits)
        try:
            if month_digits is None:
                return Span(date(year, 1, 1), date(year + 1, 1, 1))
            month = int(month_digits)
            if day_digits is None:
                first = date(year, month, 1)
                return Span(first, _add_months(first, 1))
            day = date(year, month, int(day_digits))
        except (ValueError, OverflowError) as e:
            raise DateError(f"bad date {text!r}: {e}") from None
        return Span(day, day + timedelta(days=1))
    raise DateError(f"bad date {text!r}")


def bounds(
    start: str | None, end: str | None, today: date, start_excl: bool = False, end_excl: bool = False
) -> tuple[date | None, date | None]:
    """``[first day, first day after)`` of a range between two date values (either may be open).

    An inclusive end takes in the whole of its span (``to 2025-06`` = through June 30);
    an exclusive start begins after its span (``> 2025-01`` = from February 1).
    """
    lo = hi = None
    if start:
        span = parse_date(start, today)
        lo = span.end if start_excl else span.start
    if end:
        span = parse_date(end, today)
        hi = span.start if end_excl else span.end
    return lo, hi


def to_utc(day: date) -> datetime:
    """Local midnight of ``day`` as a naive UTC datetime (the index stores ingest times so)."""
    local = datetime(day.year, day.month, day.day).astimezone()
    return local.astimezone(UTC).replace(tzinfo=None)
