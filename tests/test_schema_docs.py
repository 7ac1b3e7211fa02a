"""The schema reference in warehouse/README.md matches the migrated database."""

from __future__ import annotations

import duckdb

from newsflow.warehouse import docs
from newsflow.warehouse.db import migrate


def test_schema_reference_is_current() -> None:
    current = docs.README.read_text(encoding="utf-8")
    assert docs.render(current) == current, "warehouse/README.md is stale: run `make docs`"


def test_every_table_view_and_column_is_commented() -> None:
    con = duckdb.connect()
    migrate(con)
    bare = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT internal AND comment IS NULL "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal "
        "AND schema_name = 'main' AND comment IS NULL "
        "UNION ALL SELECT table_name || '.' || column_name FROM duckdb_columns() c "
        "WHERE NOT internal AND comment IS NULL AND table_name NOT IN "
        "(SELECT view_name FROM duckdb_views())"
    ).fetchall()
    assert bare == []


def test_interface_columns_exist() -> None:
    """The columns analysts rely on (the public interface) are all there."""
    con = duckdb.connect()
    migrate(con)
    have = {
        (t, c)
        for t, c in con.execute("SELECT table_name, column_name FROM duckdb_columns()").fetchall()
    }
    interface = {
        "articles": "article_id url canonical_url domain title published_at language text "
        "word_count content_hash duplicate_of origin ingested_at",
        "rejects": "source stage reason detail run_id rejected_at",
        "feeds": "url etag last_modified last_status consecutive_failures last_success_at",
        "runs": "run_id flow started_at finished_at",
        "article_comments": "article_id position text",
        "article_sightings": "article_id origin feed_url guid url_seen seen_at",
        "article_versions": "article_id title text content_hash valid_until",
        "articles_unique": "article_id duplicate_of",
    }
    missing = [(t, c) for t, cols in interface.items() for c in cols.split() if (t, c) not in have]
    assert missing == []
