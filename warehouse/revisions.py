"""Loader merge for ``revisions`` rows (backfill ``rededup``): derived columns recomputed from
stored text. Called from ``loader._merge`` inside the batch's transaction.

Only rows that differ are updated, then exact duplicates are re-pointed inside every
content-hash group touched (old hash or new): each article points at the group's first
article (earliest ``ingested_at``; among articles loaded in one batch, the one that is not
a duplicate now, then the least ``article_id``), the first points nowhere. A pointer
to an article with *different* text (a near-duplicate match) is left alone.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa


def _updated(cursor: duckdb.DuckDBPyConnection) -> int:
    row: Any = cursor.fetchone()
    return int(row[0]) if row else 0


def merge_revisions(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> int:
    """Apply a batch's revisions; returns how many article rows changed."""
    if "revisions" not in tables or tables["revisions"].num_rows == 0:
        return 0
    con.execute(
        "CREATE OR REPLACE TEMP TABLE revised AS "
        "SELECT r.*, a.content_hash AS old_hash FROM new_revisions r "
        "JOIN articles a USING (article_id) "
        "QUALIFY row_number() OVER (PARTITION BY r.article_id) = 1"
    )
    changed = _updated(
        con.execute(
            "UPDATE articles SET domain = r.domain, language = r.language, "
            "language_confidence = r.language_confidence, word_count = r.word_count, "
            "content_hash = r.content_hash FROM revised r "
            "WHERE articles.article_id = r.article_id AND ("
            " articles.domain IS DISTINCT FROM r.domain"
            " OR articles.language IS DISTINCT FROM r.language"
            " OR articles.language_confidence IS DISTINCT FROM r.language_confidence"
            " OR articles.word_count IS DISTINCT FROM r.word_count"
            " OR articles.content_hash IS DISTINCT FROM r.content_hash)"
        )
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE hash_roots AS "
        "SELECT content_hash, "
        "arg_min(article_id, (ingested_at, duplicate_of IS NOT NULL, article_id)) AS root "
        "FROM articles WHERE content_hash IN "
        "(SELECT content_hash FROM revised UNION SELECT old_hash FROM revised) "
        "GROUP BY content_hash"
    )
    # Exact duplicates point at their group's root, unless they already point at an article
    # with other text (a near-duplicate decision this mode does not revisit).
    changed += _updated(
        con.execute(
            "UPDATE articles SET duplicate_of = g.root FROM hash_roots g "
            "WHERE articles.content_hash = g.content_hash AND articles.article_id <> g.root "
            "AND articles.duplicate_of IS DISTINCT FROM g.root AND ("
            " articles.duplicate_of IS NULL OR NOT EXISTS (SELECT 1 FROM articles t "
            "   WHERE t.article_id = articles.duplicate_of "
            "   AND t.content_hash <> articles.content_hash))"
        )
    )
    # A root that points at an article with the same text points at a later copy: clear it.
    changed += _updated(
        con.execute(
            "UPDATE articles SET duplicate_of = NULL FROM hash_roots g "
            "WHERE articles.article_id = g.root AND articles.duplicate_of IS NOT NULL "
            "AND (SELECT t.content_hash FROM articles t "
            "     WHERE t.article_id = articles.duplicate_of) IS NOT DISTINCT FROM g.content_hash"
        )
    )
    return changed
