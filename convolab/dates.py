"""Calendar dates in conversation text: find them, parse them, write them, and resolve
relative phrases ("yesterday", "last Saturday", "two weekends ago", "next month") against the
day they were said.

Shared by the simulated Claude (which answers "when" questions from dated text) and the
strategies (``Retrieval`` writes resolved dates into the excerpts it quotes). English only.

``relative_dates(text, anchor)`` gives each phrase with its position and value: an exact day
when the phrase names one ("yesterday", "last Saturday": the latest Saturday before the
anchor, "3 days ago"), else the period it names ("the week before 9 June 2023", "June 2023",
"2022"). ``resolve_relative`` writes them as ``"phrase = value"`` notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["DATE_RE", "MONTHS", "WEEKDAYS", "RelativeDate", "fmt_date", "has_date", "parse_date",
           "relative_dates", "resolve_relative"]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
_MONTH_NUM = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}
_MONTH_NUM.update({m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)})
_MONTH_NUM["sept"] = 9
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_DAY_NUM = {d.lower(): i for i, d in enumerate(WEEKDAYS)}
_DAY_NUM.update({d[:3].lower(): i for i, d in enumerate(WEEKDAYS)})
_DAY_NUM.update({"tues": 1, "weds": 2, "thur": 3, "thurs": 3})
_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|(?:mon|tues?|weds?|thu(?:rs?)?|fri|sat|sun)\.?)"
_MON = r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_DMY = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}\.?,?\s+(\d{{4}})\b", re.I)
_MDY = re.compile(rf"\b{_MON}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
DATE_RE = re.compile(
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b{_MON}\b\.?\s+\d|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}\b"
    rf"|\b(?:19|20)\d{{2}}\b|\b(?:{'|'.join(WEEKDAYS)})s?\b|\b(?:yesterday|today|tomorrow|tonight|ago)\b"
    r"|\b(?:last|next|this|past)\s+(?:week(?:end)?|month|year|summer|winter|spring|fall|night|"
    + "|".join(w.lower() for w in WEEKDAYS) + r")\b",
    re.I,
)


def has_date(text: str) -> bool:
    """Does ``text`` mention a date, a year, a weekday or a relative time ("last week")?"""
    return DATE_RE.search(text) is not None


def parse_date(text: str) -> date | None:
    """The first full calendar date in ``text`` ("8 May, 2023", "May 8, 2023", "2023-05-08")."""
    for rx, order in ((_ISO, "ymd"), (_DMY, "dmy"), (_MDY, "mdy")):
        m = rx.search(text)
        if not m:
            continue
        g = m.groups()
        try:
            if order == "ymd":
                return date(int(g[0]), int(g[1]), int(g[2]))
            if order == "dmy":
                return date(int(g[2]), _MONTH_NUM[g[1].lower()[:3]], int(g[0]))
            return date(int(g[2]), _MONTH_NUM[g[0].lower()[:3]], int(g[1]))
        except (ValueError, KeyError):
            continue
    return None


def fmt_date(d: date) -> str:
    """``date(2023, 5, 8)`` -> ``"8 May 2023"``."""
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def _fmt_month(year: int, month: int) -> str:
    return f"{MONTHS[month - 1]} {year}"


def _shift_month(d: date, n: int) -> tuple[int, int]:
    k = d.year * 12 + d.month - 1 + n
    return k // 12, k % 12 + 1


_COUNT = r"\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|few|a few|couple|a couple(?: of)?|several"
_SIMPLE = re.compile(r"\b(?:yesterday|today|tomorrow|tonight|last night)\b", re.I)
_DIRECTED = re.compile(rf"\b(last|next|this past|past|this coming|this)\s+(week(?:end)?|month|year|{_DAY})(?![\w'])",
                       re.I)
_AGO = re.compile(rf"\b({_COUNT})\s+(day|week(?:end)?|month|year)s?\s+ago\b", re.I)
_HINT = re.compile(r"yesterday|today|tomorrow|tonight|last|next|this|past|ago", re.I)  # a cheap first look
_SMALL = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "few": 3, "a few": 3, "couple": 2,
          "a couple": 2, "a couple of": 2, "several": 3}
_WORDY = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


@dataclass(frozen=True)
class RelativeDate:
    """A relative time phrase of a text, resolved against the day it was said.

    ``day`` is the exact day when the phrase names one; ``value`` is what the phrase means in
    words ("7 May 2023", "the week before 9 June 2023", "June 2023", "2022").
    """

    phrase: str
    start: int
    end: int
    value: str
    day: date | None = None


def _before(anchor: date, weekday: int) -> date:
    """The latest ``weekday`` strictly before ``anchor``."""
    back = (anchor.weekday() - weekday) % 7 or 7
    return anchor - timedelta(days=back)


def _after(anchor: date, weekday: int) -> date:
    ahead = (weekday - anchor.weekday()) % 7 or 7
    return anchor + timedelta(days=ahead)


def _simple(low: str, anchor: date) -> tuple[str, date]:
    day = {"yesterday": -1, "last night": -1, "today": 0, "tonight": 0, "tomorrow": 1}[low]
    d = anchor + timedelta(days=day)
    return fmt_date(d), d


def _directed(direction: str, unit: str, anchor: date) -> tuple[str, date | None]:
    """``last|next|this ... week/weekend/month/year/<weekday>``."""
    d, u = direction.lower(), unit.lower().rstrip(".")
    step = 1 if d in ("next", "this coming") else 0 if d == "this" else -1
    if u == "year":
        return str(anchor.year + step), None
    if u == "month":
        return _fmt_month(*_shift_month(anchor, step)), None
    if u in ("week", "weekend"):
        if step == 0:
            return f"the {u} of {fmt_date(anchor)}", None
        return f"the {u} {'after' if step > 0 else 'before'} {fmt_date(anchor)}", None
    wd = _DAY_NUM.get(u[:-3] if u.endswith("day") and u[:-3] in _DAY_NUM else u)
    if wd is None:
        wd = _DAY_NUM.get(u[:3], 0)
    if step > 0 or (step == 0 and wd > anchor.weekday()):
        day = _after(anchor, wd)
    else:
        day = _before(anchor, wd) if wd != anchor.weekday() or step < 0 else anchor
    return fmt_date(day), day


def _ago(n: str, unit: str, anchor: date) -> tuple[str, date | None]:
    low = " ".join(n.lower().split())
    k = int(low) if low.isdigit() else _SMALL.get(low, 1)
    u = unit.lower()
    if u == "day":
        d = anchor - timedelta(days=k)
        return fmt_date(d), d
    if u == "year":
        return str(anchor.year - k), None
    if u == "month":
        return _fmt_month(*_shift_month(anchor, -k)), None
    count = low if not low.isdigit() else _WORDY.get(k, str(k))
    count = "a" if count in ("a", "an", "one") else count
    plural = "s" if count != "a" else ""
    return f"{count} {u}{plural} before {fmt_date(anchor)}", None


def relative_dates(text: str, anchor: date) -> list[RelativeDate]:
    """Relative time phrases in ``text``, in order, resolved against ``anchor`` (the day of the
    message that holds them)."""
    if not _HINT.search(text):
        return []
    out = [RelativeDate(m.group(0), m.start(), m.end(), *_simple(m.group(0).lower(), anchor))
           for m in _SIMPLE.finditer(text)]
    out += [RelativeDate(m.group(0), m.start(), m.end(), *_directed(m.group(1), m.group(2), anchor))
            for m in _DIRECTED.finditer(text)]
    if "ago" in text:
        out += [RelativeDate(m.group(0), m.start(), m.end(), *_ago(m.group(1), m.group(2), anchor))
                for m in _AGO.finditer(text)]
    out.sort(key=lambda r: r.start)
    return [r for k, r in enumerate(out) if k == 0 or r.start >= out[k - 1].end]  # "last night", not "night"


def resolve_relative(text: str, anchor: date) -> list[str]:
    """Relative time phrases in ``text`` resolved against ``anchor`` ("yesterday = 7 May 2023")."""
    return [f"{r.phrase} = {r.value}" for r in relative_dates(text, anchor)]
