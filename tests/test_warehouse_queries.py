"""The reads flows make (warehouse/queries.py), over the analysts' fixture warehouse built by
the real stages and loader; and over no warehouse at all, before the first load."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from newsflow.tasks.normalize import canonical_url
from newsflow.tasks.sitemaps import SitemapURL
from newsflow.warehouse import queries
from tests.analyst_fixture import FEED_NEWS, FEED_REGIONAL, FixtureWarehouse

WAIT = 10.0


def test_no_warehouse_yet_knows_nothing(tmp_path: Path) -> None:
    db = tmp_path / "none.duckdb"
    day = date(2024, 3, 1)
    assert queries.feed_validators(db, WAIT, [FEED_NEWS]) == {}
    assert queries.known_articles(db, WAIT, ["https://a.example/x"], []) == {}
    assert queries.stored_feed_health(db, WAIT, [FEED_NEWS]) == {}
    assert queries.feeds_due_for_reprobe(db, WAIT) == []
    assert queries.known_sites(db, ["example.com"], wait=WAIT) == set()
    assert queries.day_articles(db, WAIT, day, [], []) == []
    assert queries.day_pages(db, WAIT, day, [], []) == []
    assert queries.failed_urls(db, WAIT, day, []) == []
    entries = [SitemapURL("https://a.example/x")]
    assert queries.unseen_sitemap_urls(db, WAIT, entries) == queries.Unseen(entries, 0, 0)
    assert not db.exists()  # a read never creates the warehouse


def test_feed_reads(analyst_warehouse: FixtureWarehouse) -> None:
    db = analyst_warehouse.db
    found = queries.feed_validators(db, WAIT, [FEED_NEWS, FEED_REGIONAL, "https://new.example/"])
    assert set(found) == {FEED_NEWS, FEED_REGIONAL}
    assert found[FEED_NEWS][0] == '"abc"'  # etag, last-modified, quarantined until
    health = queries.stored_feed_health(db, WAIT, [FEED_REGIONAL])
    assert health[FEED_REGIONAL][1] == 4  # consecutive failures
    assert queries.feeds_due_for_reprobe(db, WAIT) == []  # none quarantined


def test_known_articles_by_canonical_url_or_url_seen(analyst_warehouse: FixtureWarehouse) -> None:
    seen = "https://www.regionaltimes.org/business/bank-lifts-rates?utm_source=rss"
    loaded = "https://www.example-news.com/weather/storms-flood-towns"
    new = "https://www.example-news.com/not-yet"
    keys = [canonical_url(u) for u in (seen, loaded, new)]
    known = queries.known_articles(analyst_warehouse.db, WAIT, keys, [seen, loaded, new])
    assert set(known) == {canonical_url(seen), canonical_url(loaded)}


def test_a_days_articles_by_site_and_feed(analyst_warehouse: FixtureWarehouse) -> None:
    db, day = analyst_warehouse.db, date(2024, 3, 1)
    every = queries.day_articles(db, WAIT, day, [], [])
    news = queries.day_articles(db, WAIT, day, ["example-news.com"], [])
    regional = queries.day_articles(db, WAIT, day, [], [FEED_REGIONAL])
    assert {a.canonical_url for a in news} < {a.canonical_url for a in every}
    assert all("example-news.com" in a.canonical_url for a in news) and len(news) == 2
    assert regional and all("regionaltimes.org" in a.canonical_url for a in regional)
    assert [a.article_id for a in every] == sorted(a.article_id for a in every)
    assert queries.day_articles(db, WAIT, date(2024, 2, 1), [], []) == []


def test_failed_urls_and_unseen_sitemap_urls(analyst_warehouse: FixtureWarehouse) -> None:
    db = analyst_warehouse.db
    failed = queries.failed_urls(db, WAIT, date(2024, 3, 2), [])
    assert "https://www.regionaltimes.org/gone" in failed
    assert "https://www.example-news.com/huge" in failed
    assert "https://www.example-news.com/video" in failed  # an extraction failure counts
    assert queries.failed_urls(db, WAIT, date(2024, 3, 2), ["regionaltimes.org"]) == [
        "https://www.regionaltimes.org/gone"
    ]
    entries = [
        SitemapURL("https://www.example-news.com/weather/storms-flood-towns"),
        SitemapURL("https://www.regionaltimes.org/gone"),
        SitemapURL("https://www.example-news.com/brand-new"),
    ]
    todo = queries.unseen_sitemap_urls(db, WAIT, entries)
    assert (todo.loaded, todo.failed) == (1, 1)
    assert [e.loc for e in todo.fresh] == ["https://www.example-news.com/brand-new"]


def test_known_sites_by_article_or_failed_page(analyst_warehouse: FixtureWarehouse) -> None:
    asked = ["example-news.com", "regionaltimes.org", "nowhere.example"]
    assert queries.known_sites(analyst_warehouse.db, asked, wait=WAIT) == {
        "example-news.com",
        "regionaltimes.org",
    }
