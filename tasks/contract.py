"""The spool contract: every table a worker spools for the loader, its row type and its
Arrow schema, all derived from the row dataclasses of ``tasks/records.py``.

Workers build tables with ``to_arrow``; the spool reads them back conformed to ``schema``;
the loader dispatches on ``Table`` and inserts by column name, so a new column is a field of
its record (and a migration), never a list edited here or in the loader.

Bottom layer: the standard library, pyarrow and the records only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

import pyarrow as pa

from newsflow.tasks import records

_TS = pa.timestamp("us", tz="UTC")
# Python annotations (as written in tasks/records.py) -> Arrow types; ``| None`` is stripped.
_ARROW: dict[str, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "int32": pa.int32(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "bytes": pa.binary(),
    "datetime": _TS,
    "list[str]": pa.list_(pa.string()),
    "list[int]": pa.list_(pa.int64()),
    "Origin": pa.string(),
    "Outcome": pa.string(),
}
# LSH bands of an article's MinHash signature (tasks/near_duplicates.py computes them, the loader
# weighs shared keys by this number): one key per band in ``ArticleRow.bands``.
BANDS = 36

# Words of the relation ``{source}`` (article_id, title, text), stemmed, stop words left out,
# counted per field: one row per (term, article) (``PostingRow``). The same words as the fts
# extension's ``lower(strip_accents(s))`` split on ``[^\p{L}\p{N}]+`` (the ``search_tokenize`` macro
# that queries use), computed cheaper: tokens keep their combining marks and accents are
# stripped once per distinct non-ASCII token, not over every text (stripping marks only
# joins the letters around them, so the words are the same; tests compare both). Tokens
# are counted in one group-by after the join (cheaper here than a histogram per text).
POSTINGS_SQL = """
WITH tokens AS (
    SELECT article_id, 1 AS field,
           unnest(regexp_extract_all(lower(title), '[\\p{{L}}\\p{{N}}\\p{{M}}]+')) AS t
    FROM {source}
    UNION ALL
    SELECT article_id, 2 AS field,
           unnest(regexp_extract_all(lower(text), '[\\p{{L}}\\p{{N}}\\p{{M}}]+')) AS t
    FROM {source}
),
-- Stemming is the costly part: once per distinct word of the batch, not per occurrence.
stems AS (
    SELECT t, stem(w, 'porter') AS term FROM (
        SELECT t, CASE WHEN strlen(t) = length(t) THEN t ELSE strip_accents(t) END AS w
        FROM (SELECT DISTINCT t FROM tokens))
    WHERE length(w) > 0 AND w NOT IN (SELECT word FROM search_stopwords)
)
SELECT s.term, c.article_id,
       CAST(count(*) FILTER (WHERE c.field = 1) AS INTEGER) AS title_tf,
       CAST(count(*) FILTER (WHERE c.field = 2) AS INTEGER) AS text_tf
FROM tokens c JOIN stems s USING (t)
GROUP BY ALL
"""


class Table(StrEnum):
    """The spooled tables; the value is the Parquet file's name in a batch."""

    ARTICLES = "articles"
    COMMENTS = "comments"
    SIGHTINGS = "sightings"
    NOTES = "notes"
    REJECTS = "rejects"
    RAW_PAGES = "raw_pages"
    POSTINGS = "postings"  # the search index's postings of the batch's articles
    FEED_STATES = "feed_states"
    REVISIONS = "revisions"  # backfill rededup: derived columns recomputed
    RELINK = "relink"  # backfill rededup: recompute every near-duplicate link
    SEED_FILES = "seed_files"  # the seed-file ledger
    RUNS = "runs"  # runs of work-pool workers, which leave loading to the loader


# The tables of a ``records.Batch``: a worker's processed items (attribute = table name).
BATCH_TABLES = (
    Table.ARTICLES,
    Table.COMMENTS,
    Table.SIGHTINGS,
    Table.NOTES,
    Table.REJECTS,
    Table.RAW_PAGES,
)
ROW_TYPES: dict[Table, type] = {
    Table.ARTICLES: records.ArticleRow,
    Table.COMMENTS: records.CommentRow,
    Table.SIGHTINGS: records.SightingRow,
    Table.NOTES: records.NoteRow,
    Table.REJECTS: records.RejectRow,
    Table.RAW_PAGES: records.RawPageRow,
    Table.POSTINGS: records.PostingRow,
    Table.FEED_STATES: records.FeedState,
    Table.REVISIONS: records.RevisionRow,
    Table.RELINK: records.RelinkRow,
    Table.SEED_FILES: records.SeedFileRow,
    Table.RUNS: records.RunRow,
}


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    spool_only: bool  # travels to the loader, never stored as a column
    on_revision: str  # "replace", "keep", "coalesce" or "with:<column>" (ArticleRow)


def _arrow_type(f: dataclasses.Field[Any]) -> pa.DataType:
    name = f.metadata.get("arrow") or str(f.type).replace(" | None", "").strip()
    try:
        return _ARROW[name]
    except KeyError:
        raise TypeError(
            f"no Arrow type for {f.name}: {name!r} (add it to contract._ARROW)"
        ) from None


@cache
def columns(table: Table) -> tuple[Column, ...]:
    """The table's columns, in the order of its row type's fields."""
    return tuple(
        Column(
            f.name,
            _arrow_type(f),
            bool(f.metadata.get("spool_only")),
            f.metadata.get("on_revision", "replace"),
        )
        for f in dataclasses.fields(ROW_TYPES[table])
    )


@cache
def schema(table: Table) -> pa.Schema:
    """The table's Arrow schema as spooled."""
    return pa.schema([(c.name, c.type) for c in columns(table)])


def stored(table: Table) -> list[str]:
    """The columns the loader stores (all but the spool-only ones)."""
    return [c.name for c in columns(table) if not c.spool_only]


def spool_only(table: Table) -> list[str]:
    return [c.name for c in columns(table) if c.spool_only]


def to_arrow(table: Table, rows: Iterable[Any]) -> pa.Table:
    """Rows of the table's row type as an Arrow table of its schema."""
    rows = list(rows)
    names = [c.name for c in columns(table)]
    return pa.table({n: [getattr(r, n) for r in rows] for n in names}, schema=schema(table))


def conform(table: Table, data: pa.Table) -> pa.Table:
    """Add as NULLs the columns a batch spooled by an older version lacks."""
    for column in schema(table):
        if column.name not in data.column_names:
            data = data.append_column(column, pa.nulls(data.num_rows, column.type))
    return data


# A text's identity, which workers spool (``content_hash``, ``word_count``) and the loader
# compares: the ``\w+`` runs of the case-folded text.
WORD = re.compile(r"\w+")


def content_hash(text: str) -> str:
    """Hash of the text with case, punctuation and spacing folded, for exact dedup."""
    return fingerprint(text)[1]


def word_count(text: str) -> int:
    return len(WORD.findall(text))


def fingerprint(text: str) -> tuple[int, str]:
    """Word count and content hash in one pass over the words."""
    words = WORD.findall(text.casefold())
    return len(words), hash_words(words)


def hash_words(words: list[str]) -> str:
    """content_hash of a text given its words (``\\w+`` runs of ``text.casefold()``)."""
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=16).hexdigest()


# Revisions: a changed text is a new version only if its body changed. Lines shorter than
# BODY_LINE_WORDS words (datelines, "Updated 5 min ago", share prompts, bylines) change
# between fetches without the article changing; they are left out of the comparison.
BODY_LINE_WORDS = 8


def body_hash(text: str) -> str:
    """content_hash of the text's body lines (those of at least BODY_LINE_WORDS words)."""
    lines = [line for line in text.split("\n") if word_count(line) >= BODY_LINE_WORDS]
    return content_hash("\n".join(lines) if lines else text)


def is_material_change(old: str, new: str) -> bool:
    """Whether a known article's new text is a revision worth a new version."""
    return body_hash(old) != body_hash(new)
