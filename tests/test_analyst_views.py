"""Every analyst view on the fixture warehouse (tests/analyst_fixture.py), checked against what
the fixture put in, and against the base tables they summarize."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from newsflow.warehouse.db import VIEWS, connect_reader, migrate
from tests.analyst_fixture import (
    FEED_DE,
    FEED_DEAD,
    FEED_NEWS,
    FEED_REGIONAL,
    RUN_1,
    RUN_2,
    FixtureWarehouse,
)


@pytest.fixture
def con(analyst_warehouse: FixtureWarehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect_reader(analyst_warehouse.db)
    yield connection
    connection.close()


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_every_view_has_its_own_file_and_comments(con: duckdb.DuckDBPyConnection) -> None:
    views = dict(
        con.execute(
            "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal "
            "AND schema_name = 'main'"
        ).fetchall()
    )
    # A file holds a view or, for search (search_articles.sql), the table macros analysts call.
    macros = dict(
        con.execute(
            "SELECT function_name, comment FROM duckdb_functions() WHERE NOT internal "
            "AND schema_name = 'main' AND function_type LIKE '%macro'"
        ).fetchall()
    )
    files = {p.stem for p in VIEWS.glob("*.sql")}
    assert set(views) | (set(macros) & files) == files
    assert "search_articles" in macros
    assert all(macros.values()), macros
    assert {
        "articles_unique",
        "article_clusters",
        "daily_counts",
        "duplicate_clusters",
        "sightings_by_feed",
        "feed_health",
        "rejects_daily",
    } <= files
    assert all(views.values()), views
    # articles_unique passes articles' columns through (SELECT *): a column added to articles
    # appears there too and is documented on articles.
    undocumented = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE table_name IN "
        f"({', '.join(repr(v) for v in views if v != 'articles_unique')}) "
        "AND (comment IS NULL OR comment = '')"
    ).fetchall()
    assert undocumented == []


def test_articles_unique_is_one_row_per_story(con: duckdb.DuckDBPyConnection) -> None:
    assert _one(con, "SELECT count(*) FROM articles") == 11
    assert _one(con, "SELECT count(*) FROM articles_unique") == 8
    assert _one(con, "SELECT count(*) FROM articles_unique WHERE duplicate_of IS NOT NULL") == 0


def test_article_clusters_map_copies_to_their_root(con: duckdb.DuckDBPyConnection) -> None:
    assert _one(con, "SELECT count(*), count(DISTINCT article_id) FROM article_clusters") == (
        11,
        11,
    )
    rows = con.execute(
        "SELECT a.domain, c.depth FROM article_clusters c JOIN articles a USING (article_id) "
        "WHERE c.cluster_id = (SELECT article_id FROM articles "
        "  WHERE url = 'https://www.example-news.com/economy/rates-rise') ORDER BY c.depth, 1"
    ).fetchall()
    assert rows == [("example-news.com", 0), ("dailypaper.net", 1), ("regionaltimes.org", 1)]


def test_article_clusters_follow_chains() -> None:
    # A duplicate that points at another duplicate still lands in the root's cluster.
    con = duckdb.connect()
    migrate(con)
    for article_id, duplicate_of in (("root", None), ("copy", "root"), ("copy2", "copy")):
        con.execute(
            "INSERT INTO articles (article_id, url, canonical_url, text, word_count, "
            "content_hash, duplicate_of, origin, ingested_at) "
            "VALUES (?, ?, ?, 'x', 1, 'h', ?, 'seed', now())",
            [
                article_id,
                f"https://e.com/{article_id}",
                f"https://e.com/{article_id}",
                duplicate_of,
            ],
        )
    rows = con.execute("SELECT article_id, cluster_id, depth FROM article_clusters ORDER BY 3")
    assert rows.fetchall() == [("root", "root", 0), ("copy", "root", 1), ("copy2", "root", 2)]
    assert con.execute("SELECT size FROM duplicate_clusters").fetchall() == [(3,)]


def test_daily_counts_by_domain_and_language(con: duckdb.DuckDBPyConnection) -> None:
    rows = {
        (day, domain, language): (articles, unique, dups, undated)
        for day, domain, language, articles, unique, dups, undated in con.execute(
            "SELECT day, domain, language, articles, unique_articles, duplicates, undated "
            "FROM daily_counts"
        ).fetchall()
    }
    march_1, march_2 = date(2024, 3, 1), date(2024, 3, 2)
    assert rows[(march_1, "example-news.com", "en")] == (2, 2, 0, 0)
    assert rows[(march_1, "regionaltimes.org", "en")] == (2, 1, 1, 0)
    assert rows[(march_1, "zeitung-beispiel.de", "de")] == (1, 1, 0, 0)
    assert rows[(march_2, "journal-exemple.fr", "fr")] == (1, 1, 0, 0)
    # No publication date: counted on the day it was ingested, and flagged.
    assert rows[(march_2, "diario-ejemplo.es", "es")] == (1, 1, 0, 1)
    totals = _one(con, "SELECT sum(articles), sum(unique_articles), sum(words) FROM daily_counts")
    assert totals == _one(
        con,
        "SELECT count(*), count(*) FILTER (duplicate_of IS NULL), sum(word_count) FROM articles",
    )


def test_daily_counts_between_gives_the_views_rows_for_its_days(
    analyst_warehouse: FixtureWarehouse,
) -> None:
    con = connect_reader(analyst_warehouse.db)
    try:
        con.execute("SET TimeZone = 'Asia/Tokyo'")  # days stay UTC days, as in the view
        for first, last in (
            ("2024-03-01", "2024-03-02"),
            ("2024-03-02", "2024-03-02"),  # the undated article's ingest day
            ("2024-03-01", "2024-03-01"),
            ("2024-03-03", "2024-03-31"),  # nothing
        ):
            view = con.execute(
                "SELECT * FROM daily_counts WHERE day BETWEEN ? AND ? ORDER BY ALL",
                [first, last],
            ).fetchall()
            between = con.execute(
                "SELECT * FROM daily_counts_between(?::DATE, ?::DATE) ORDER BY ALL", [first, last]
            ).fetchall()
            assert between == view, (first, last)
        assert (
            _one(
                con,
                "SELECT sum(undated) FROM daily_counts_between("
                "DATE '2024-03-02', DATE '2024-03-02')",
            )
            == 1
        )
    finally:
        con.close()


def test_duplicate_clusters(con: duckdb.DuckDBPyConnection) -> None:
    top = con.execute(
        "SELECT title, size, domains, root_domain, first_published, first_seen, last_seen, "
        "member_domains, member_urls, members[1] = cluster_id FROM duplicate_clusters "
        "ORDER BY size DESC, first_seen LIMIT 2"
    ).fetchall()
    rates, football = top
    assert rates[:4] == (
        "Central bank raises interest rates to curb inflation",
        3,
        3,
        "example-news.com",
    )
    assert rates[4] == datetime(2024, 3, 1, 8, tzinfo=UTC)
    assert rates[5] == datetime(2024, 3, 1, 16, tzinfo=UTC)  # the first feed sighting
    assert rates[6] == RUN_2  # the copy from the second run
    assert rates[7] == ["dailypaper.net", "example-news.com", "regionaltimes.org"]
    assert rates[8][0] == "https://www.example-news.com/economy/rates-rise"
    assert rates[9] is True
    assert football[:4] == ("Home side wins title on penalties", 2, 2, "regionaltimes.org")
    assert _one(con, "SELECT sum(size), count(*) FROM duplicate_clusters") == (11, 8)
    assert _one(con, "SELECT count(*) FROM duplicate_clusters WHERE size > 1") == 2


def test_sightings_by_feed(con: duckdb.DuckDBPyConnection) -> None:
    rows = {
        (day, origin, feed): (sightings, articles, stories)
        for day, origin, feed, sightings, articles, stories in con.execute(
            "SELECT day, origin, feed_url, sightings, articles, stories FROM sightings_by_feed"
        ).fetchall()
    }
    march_1, march_2 = date(2024, 3, 1), date(2024, 3, 2)
    assert rows[(march_1, "feed", FEED_NEWS)] == (2, 2, 2)
    assert rows[(march_2, "feed", FEED_NEWS)] == (2, 2, 2)
    assert rows[(march_1, "feed", FEED_REGIONAL)] == (2, 2, 2)
    assert rows[(march_2, "seed", None)] == (2, 2, 2)
    assert rows[(march_2, "url", None)] == (1, 1, 1)
    # The German article was seen again an hour before the fixture was built, in the same
    # feed under another GUID: a sighting of its own, on its own day.
    recent = _one(
        con,
        "SELECT max(seen_at) FROM article_sightings WHERE feed_url = ?",
        [FEED_DE],
    )
    assert recent > datetime.now(UTC) - timedelta(days=1)
    assert rows[(recent.astimezone(UTC).date(), "feed", FEED_DE)] == (1, 1, 1)
    assert _one(con, "SELECT sum(sightings) FROM sightings_by_feed") == _one(
        con, "SELECT count(*) FROM article_sightings"
    )


def test_feed_health(con: duckdb.DuckDBPyConnection) -> None:
    rows = {
        url: rest
        for url, *rest in con.execute(
            "SELECT feed_url, health, consecutive_failures, articles_seen, "
            "articles_last_7_days, rejects, last_reject_reason, hours_since_success "
            "FROM feed_health"
        ).fetchall()
    }
    assert rows[FEED_DE][:5] == ["ok", 0, 1, 1, 0]
    assert rows[FEED_NEWS][:6] == ["quiet", 0, 4, 0, 1, "empty_text"]
    assert 2 <= rows[FEED_NEWS][6] <= 3  # polled two hours before the fixture was built
    assert rows[FEED_REGIONAL][:2] == ["failing", 4]
    assert rows[FEED_DEAD][:6] == ["never_succeeded", 2, 0, 0, 2, "timeout"]
    assert rows[FEED_DEAD][6] is None
    assert _one(con, "SELECT count(*) FROM feed_health") == _one(con, "SELECT count(*) FROM feeds")


def test_rejects_by_reason_and_stage_over_time(con: duckdb.DuckDBPyConnection) -> None:
    rows = {
        (day, stage, reason): (rejects, sources, runs)
        for day, stage, reason, rejects, sources, runs in con.execute(
            "SELECT day, stage, reason, rejects, sources, runs FROM rejects_daily"
        ).fetchall()
    }
    march_1, march_2 = date(2024, 3, 1), date(2024, 3, 2)
    assert rows[(march_1, "fetch", "http_404")] == (1, 1, 1)
    assert rows[(march_2, "fetch", "http_404")] == (1, 1, 1)
    assert rows[(march_1, "fetch", "timeout")] == (1, 1, 1)
    assert rows[(march_2, "process", "empty_text")] == (1, 1, 1)
    assert rows[(march_2, "extract", "not_html")] == (1, 1, 1)
    assert _one(con, "SELECT sum(rejects) FROM rejects_daily") == _one(
        con, "SELECT count(*) FROM rejects"
    )
    example = _one(
        con,
        "SELECT example_source FROM rejects_daily WHERE day = DATE '2024-03-02' "
        "AND reason = 'timeout'",
    )
    assert example == FEED_DEAD


def test_views_use_utc_days_whatever_the_session_time_zone(
    analyst_warehouse: FixtureWarehouse,
) -> None:
    # The undated article was ingested 18:00 UTC on 2 March: 3 March in Tokyo, yet its day
    # stays the UTC day for every analyst.
    con = duckdb.connect(str(analyst_warehouse.published), read_only=True)
    try:
        con.execute("SET TimeZone = 'Asia/Tokyo'")
        days = con.execute("SELECT DISTINCT day FROM daily_counts ORDER BY 1").fetchall()
    finally:
        con.close()
    assert days == [(date(2024, 3, 1),), (date(2024, 3, 2),)]


def test_fixture_is_built_by_the_real_loader(analyst_warehouse: FixtureWarehouse) -> None:
    con = connect_reader(analyst_warehouse.db)
    try:
        assert _one(con, "SELECT count(*) FROM spool_batches") == 3
        assert _one(con, "SELECT count(*) FROM article_versions") == 1
        assert _one(con, "SELECT min(started_at) FROM runs") < RUN_1
    finally:
        con.close()
    assert not any(Path(analyst_warehouse.spool).iterdir())
