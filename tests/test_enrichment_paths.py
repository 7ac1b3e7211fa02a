"""One enrichment, whatever the path: the same page gives the same tags, authors, image and
dates by URL, feed, sitemap or seed URL list, plus what the intake adds (a feed entry's
category), and ``provenance`` says where each came from. A real local server, real worker
processes; the slow test runs the real ``ingest-urls`` and ``ingest-feeds`` flows into two
warehouses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from newsflow.settings import Settings
from newsflow.tasks.feeds import entry_candidate, parse_feed
from newsflow.tasks.fetch import fetch_and_process
from newsflow.tasks.records import ArticleRow, Candidate
from newsflow.tasks.seeds import read_seed_files
from newsflow.tasks.sitemap_backfill import candidate as sitemap_candidate
from newsflow.tasks.sitemaps import SitemapURL
from tests.fetch_server import FaultServer, page
from tests.helpers import local_fetch_settings

PARAGRAPHS = [
    "The harbour trust agreed on Thursday to rebuild the north pier, which was badly damaged "
    "in the January storms, at a cost of four million pounds spread over three years.",
    "Fishermen who land their catch at the pier have used the south quay since the storms, "
    "and said the queues there had added hours to every working day this spring.",
    "The trust's engineer said the new pier would stand a metre higher than the old one and "
    "would be built to survive the bigger storms that the coast now expects every winter.",
]
JSONLD = {
    "@context": "https://schema.org",
    "@type": "NewsArticle",
    "headline": "North pier to be rebuilt",
    "author": [{"@type": "Person", "name": "Ellen Shaw"}],
    "datePublished": "2024-04-04T09:30:00+00:00",
    "dateModified": "2024-04-04T12:00:00+00:00",
    "keywords": "harbour, storms",
    "image": {"@type": "ImageObject", "url": "https://harbourpost.example/img/pier.jpg"},
}
PAGE = (
    "<!DOCTYPE html><html><head><title>North pier to be rebuilt</title>"
    '<meta property="og:type" content="article">'
    '<meta property="article:tag" content="Harbour">'
    f'<script type="application/ld+json">{json.dumps(JSONLD)}</script></head><body>'
    "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav><article>"
    "<h1>North pier to be rebuilt</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + "</article><footer>Contact us</footer></body></html>"
)


def rss(link: str) -> bytes:
    """A feed entry with its own category, author and an earlier date than the page's."""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Post</title>'
        f"<item><title>North pier to be rebuilt</title><link>{link}</link><guid>pier-1</guid>"
        "<category>Local news</category><category>storms</category>"
        "<author>newsdesk@harbourpost.example (Newsdesk)</author>"
        "<pubDate>Thu, 04 Apr 2024 08:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()


@pytest.fixture
def server() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
    srv.routes["/news/pier"] = page(PAGE)
    srv.routes["/rss.xml"] = page(rss(srv.url("/news/pier")), "application/rss+xml")
    yield srv
    srv.stop()


@pytest.fixture
def fetch_settings(tmp_path: Path) -> Settings:
    return local_fetch_settings(tmp_path)


def facts(row: ArticleRow) -> dict[str, Any]:
    return {
        "authors": row.authors,
        "image": row.image,
        "published_at": row.published_at,
        "published_source": row.published_source,
        "modified_at": row.modified_at,
        "categories": row.categories,
    }


def test_every_intake_gives_the_pages_enrichment_plus_its_own(
    server: FaultServer, fetch_settings: Settings, tmp_path: Path
) -> None:
    url = server.url("/news/pier")
    now = datetime.now(UTC)
    feed = parse_feed(rss(url), server.url("/rss.xml"), "application/rss+xml")
    from_feed = entry_candidate(feed.entries[0], server.url("/rss.xml"), now)
    assert from_feed is not None and from_feed.tags == ["Local news", "storms"]
    listed = tmp_path / "urls.txt"
    listed.write_text(f"{url}\n", encoding="utf-8")
    (from_seed,), _ = read_seed_files([listed], "run")
    published = datetime(2024, 4, 3, tzinfo=UTC)
    intakes = {
        "url": Candidate("url", url, url),
        "feed": from_feed,
        "sitemap": sitemap_candidate(SitemapURL(url, published=published, title="Pier"), now),
        "seed": from_seed,
    }
    rows = {}
    for name, item in intakes.items():  # one run each: one fetch, one article
        (rows[name],) = fetch_and_process([item], fetch_settings, f"run-{name}").articles

    page_only = rows["url"]
    assert page_only.tags == ["harbour", "storms"]  # JSON-LD keywords
    assert page_only.authors == ["Ellen Shaw"]
    assert page_only.image == "https://harbourpost.example/img/pier.jpg"
    assert page_only.published_at == datetime(2024, 4, 4, 9, 30, tzinfo=UTC)
    for name, row in rows.items():
        assert facts(row) == facts(page_only), name
    # the feed adds the category the page lacks; "storms" is already the page's
    assert rows["feed"].tags == [*page_only.tags, "Local news"]
    for name in ("sitemap", "seed"):
        assert rows[name].tags == page_only.tags
    sources = json.loads(rows["feed"].provenance or "{}")
    assert sources["tags"] == {"page": page_only.tags, "feed": ["Local news"]}
    assert sources["authors"] == "page" and sources["image"] == "page"
    assert json.loads(page_only.provenance or "{}")["tags"] == {"page": page_only.tags}


def test_intake_fields_fill_in_what_the_page_lacks(
    server: FaultServer, fetch_settings: Settings
) -> None:
    bare = PAGE.replace(json.dumps(JSONLD), "{}").replace("article:tag", "x")
    server.routes["/news/bare"] = page(bare)
    url = server.url("/news/bare")
    feed = parse_feed(
        b'<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
        b"<channel><title>t</title><item><title>Pier</title>"
        + f"<link>{url}</link>".encode()
        + b"<author>Newsdesk</author><category>Local news</category>"
        b'<media:thumbnail url="https://cdn.example/pier-thumb.jpg"/></item></channel></rss>',
        server.url("/rss.xml"),
    )
    item = entry_candidate(feed.entries[0], server.url("/rss.xml"), datetime.now(UTC))
    assert item is not None and item.image == "https://cdn.example/pier-thumb.jpg"
    (row,) = fetch_and_process([item], fetch_settings, "run-bare").articles
    assert row.authors == ["Newsdesk"] and row.tags == ["Local news"]
    assert row.image == "https://cdn.example/pier-thumb.jpg"
    assert json.loads(row.provenance or "{}") == {
        "authors": "feed",
        "image": "feed",
        "tags": {"feed": ["Local news"]},
        "title": "feed",
    }


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_ingest_urls_and_ingest_feeds_store_the_same_enrichment(
    server: FaultServer, tmp_path: Path
) -> None:
    from newsflow.flows.feeds import ingest_feeds
    from newsflow.flows.urls import ingest_urls

    by_url = local_fetch_settings(tmp_path / "by_url")
    by_feed = local_fetch_settings(tmp_path / "by_feed")
    for settings in (by_url, by_feed):
        settings.db.parent.mkdir(parents=True, exist_ok=True)
    ingest_urls([server.url("/news/pier")], settings=by_url)
    ingest_feeds(feeds=[server.url("/rss.xml")], settings=by_feed)
    sql = (
        "SELECT tags, authors, image, published_at, published_source, modified_at, "
        "categories, provenance->>'$.authors', origin FROM articles"
    )
    got = {}
    for name, settings in (("url", by_url), ("feed", by_feed)):
        con = duckdb.connect(str(settings.db), read_only=True)
        try:
            (got[name],) = con.execute(sql).fetchall()
        finally:
            con.close()
    url_row, feed_row = got["url"], got["feed"]
    assert (url_row[-1], feed_row[-1]) == ("url", "feed")
    assert feed_row[1:7] == url_row[1:7]  # authors, image, dates, categories
    assert url_row[1] == ["Ellen Shaw"] and url_row[2].endswith("/img/pier.jpg")
    assert feed_row[0] == [*url_row[0], "Local news"]  # plus the feed's category
    assert feed_row[7] == url_row[7] == "page"
