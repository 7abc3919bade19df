"""Datasets to replay: LoCoMo's published conversations and a seeded synthetic generator.

Both give ``Sample`` records (a ``convolab.Conversation`` with session dates, QA items and
a map from each dialogue id to the message holding it), so one harness runs both::

    >>> from convolab.datasets import synthetic
    >>> sample = synthetic(turns=60, seed=1)
    >>> sample.qa[0].evidence[0] in sample.dia_index
    True

``load_locomo(path)`` reads the benchmark's JSON; ``write_locomo_json(samples, path)`` writes
that format (the synthetic generator's output included). ``load_longmemeval(path)`` (or
``iter_longmemeval``, one instance at a time) reads LongMemEval's files into the same records,
one ``Sample`` per question; ``longmemeval_records`` generates instances in that format and
``write_longmemeval_json`` writes them. Formats, mapping rules, where to download the data and
the licenses are in ``docs/datasets.md``.
"""

from convolab.datasets.locomo import (
    MESSAGE_SPACING,
    SYSTEM_PROMPT,
    format_locomo_date,
    load_locomo,
    parse_locomo,
    parse_locomo_date,
    parse_sample,
    write_locomo_json,
)
from convolab.datasets.longmemeval import (
    iter_longmemeval,
    load_longmemeval,
    write_longmemeval_json,
)
from convolab.datasets.longmemeval_synthetic import longmemeval_records
from convolab.datasets.records import CATEGORY_NAMES, PlantedFact, QAItem, Sample, SessionInfo
from convolab.datasets.synthetic import TOOLS, synthetic, synthetic_record

__all__ = [
    "CATEGORY_NAMES",
    "MESSAGE_SPACING",
    "SYSTEM_PROMPT",
    "TOOLS",
    "PlantedFact",
    "QAItem",
    "Sample",
    "SessionInfo",
    "format_locomo_date",
    "iter_longmemeval",
    "load_locomo",
    "load_longmemeval",
    "longmemeval_records",
    "parse_locomo",
    "parse_locomo_date",
    "parse_sample",
    "synthetic",
    "synthetic_record",
    "write_locomo_json",
    "write_longmemeval_json",
]
