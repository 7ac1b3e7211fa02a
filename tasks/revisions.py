"""Dedup and enrichment again over stored article text (the backfill's ``rededup`` mode).

The text in the warehouse stays as it is; what is recomputed from it is everything derived:
``content_hash``, ``word_count``, ``language`` and ``domain``. Workers only read the
warehouse (read-only) and spool ``revisions`` rows; the loader applies the rows that differ
and re-points exact duplicates (``duplicate_of``) inside the content-hash groups they touch,
so running the same chunk twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa

from newsflow.tasks.contract import Table, to_arrow
from newsflow.tasks.enrich import detect_language, registered_domain
from newsflow.tasks.normalize import content_hash, word_count
from newsflow.tasks.records import RevisionRow

REVISIONS = Table.REVISIONS


@dataclass(frozen=True, slots=True)
class StoredArticle:
    article_id: str
    canonical_url: str
    text: str


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a calendar day spans, [start, end)."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def revise(articles: list[StoredArticle]) -> pa.Table:
    """What dedup and enrichment make of the stored texts today."""
    rows = []
    for article in articles:
        language, confidence = detect_language(article.text)
        rows.append(
            RevisionRow(
                article.article_id,
                registered_domain(article.canonical_url),
                language,
                confidence,
                word_count(article.text),
                content_hash(article.text),
            )
        )
    return to_arrow(Table.REVISIONS, rows)


def normalize_domain(value: str) -> str:
    """A domain as the warehouse stores it: ``https://www.BBC.co.uk/x`` -> ``bbc.co.uk``."""
    value = value.strip().lower()
    url = value if "://" in value else f"http://{value}"
    return registered_domain(url) or value
