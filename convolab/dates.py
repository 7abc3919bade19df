"""Calendar dates in conversation text: find them, parse them, write them, and resolve
relative phrases ("yesterday", "last week", "two months ago") against the day they were said.

Shared by the simulated Claude (which answers "when" questions from dated text) and the
strategies (``Retrieval`` writes resolved dates into the excerpts it quotes). English only.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

__all__ = ["DATE_RE", "MONTHS", "WEEKDAYS", "fmt_date", "has_date", "parse_date", "resolve_relative"]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
_MONTH_NUM = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}
_MONTH_NUM.update({m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)})
_MONTH_NUM["sept"] = 9
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
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
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def _shift_month(d: date, n: int) -> tuple[int, int]:
    k = d.year * 12 + d.month - 1 + n
    return k // 12, k % 12 + 1


_REL = re.compile(
    r"\b(yesterday|today|tomorrow|tonight|(?:last|next|this past|past)\s+(week(?:end)?|month|year|"
    + "|".join(w.lower() for w in WEEKDAYS) + r")|(\d+|a|an|one|two|three|four|five|six|few)\s+"
    r"(day|week|month|year)s?\s+ago)\b",
    re.I,
)
_SMALL = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "few": 3}


def resolve_relative(text: str, anchor: date) -> list[str]:
    """Relative time phrases in ``text`` resolved against ``anchor`` ("yesterday = 7 May 2023")."""
    out = []
    for m in _REL.finditer(text):
        phrase, unit, n, unit_ago = m.group(0), m.group(2), m.group(3), m.group(4)
        low = phrase.lower()
        if low == "yesterday":
            val = fmt_date(anchor - timedelta(days=1))
        elif low in ("today", "tonight"):
            val = fmt_date(anchor)
        elif low == "tomorrow":
            val = fmt_date(anchor + timedelta(days=1))
        elif unit_ago:
            k = int(n) if n.isdigit() else _SMALL.get(n.lower(), 1)
            u = unit_ago.lower()
            if u == "day":
                val = fmt_date(anchor - timedelta(days=k))
            elif u == "week":
                val = f"{k} week{'s' * (k > 1)} before {fmt_date(anchor)}"
            elif u == "month":
                y, mo = _shift_month(anchor, -k)
                val = f"{MONTHS[mo - 1]} {y}"
            else:
                val = str(anchor.year - k)
        else:
            u = unit.lower()
            step = 1 if low.startswith("next") else -1
            if u == "year":
                val = str(anchor.year + step)
            elif u == "month":
                y, mo = _shift_month(anchor, step)
                val = f"{MONTHS[mo - 1]} {y}"
            else:
                rel = "after" if step > 0 else "before"
                val = f"the {u.capitalize() if u not in ('week', 'weekend') else u} {rel} {fmt_date(anchor)}"
        out.append(f"{phrase} = {val}")
    return out
