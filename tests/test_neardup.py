"""Near-duplicate clusters, revisions and raw pages through the real spool and loader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from newsflow.tasks.normalize import article_id, canonical_url
from newsflow.tasks.process import process_candidates
from newsflow.tasks.raw_pages import page_html
from newsflow.tasks.records import Candidate
from newsflow.tasks.spool import write_batch
from newsflow.warehouse.loader import LoadReport, load_spool
from tests.test_extract import PARAGRAPHS, page

T0 = datetime(2025, 3, 1, tzinfo=UTC)
STORY = "\n".join(PARAGRAPHS)
OTHER = "\n".join(
    [
        "The regional football league announced on Monday that next season will start two "
        "weeks later than planned because of the renovation works at the national stadium.",
        "Club officials said the delay would give players more time to recover after a long "
        "summer of international matches, although some coaches complained about the fixtures.",
        "Tickets for the opening match will go on sale in July, and season ticket holders "
        "will be able to choose their seats online before the general public from next week.",
    ]
)


def load(tmp: Path, candidates: list[Candidate], hours: int) -> LoadReport:
    batch = process_candidates(candidates, "test", now=T0 + timedelta(hours=hours))
    write_batch(batch, str(tmp / "spool"))
    return load_spool(tmp / "news.duckdb", str(tmp / "spool"), lock_wait=10)


def text_candidate(url: str, text: str) -> Candidate:
    return Candidate("url", url, url, title="t", text=text)


def rows(tmp: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(tmp / "news.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def aid(url: str) -> str:
    return article_id(canonical_url(url))


def test_edited_copies_cluster_with_the_first_across_batches(tmp_path: Path) -> None:
    load(tmp_path, [text_candidate("https://a.example/story", STORY)], 0)
    # A wire copy elsewhere: boilerplate added, a paragraph dropped, a few words reworded.
    copy = "\n".join(
        [
            "Reporting by staff; editing by the news desk.",
            PARAGRAPHS[0].replace("Tuesday", "Monday"),
            PARAGRAPHS[1].replace("cut commuting times in half", "halve commuting times"),
            PARAGRAPHS[3],
            "Sign up for our daily newsletter to get the latest headlines.",
        ]
    )
    report = load(
        tmp_path,
        [
            text_candidate("https://b.example/wire/123", copy),
            text_candidate("https://a.example/football", OTHER),  # same site, another story
        ],
        1,
    )
    assert report.loaded == 2 and report.duplicates == 1
    got = dict(rows(tmp_path, "SELECT article_id, cluster_id FROM articles"))
    root = aid("https://a.example/story")
    assert got[root] == root
    assert got[aid("https://b.example/wire/123")] == root
    assert got[aid("https://a.example/football")] == aid("https://a.example/football")
    dup = rows(tmp_path, "SELECT duplicate_of FROM articles WHERE url LIKE '%wire%'")
    assert dup == [(root,)]
    # A third copy in one batch with a fourth: both join the first article's cluster.
    third = STORY.replace("mayor", "city's mayor")
    load(
        tmp_path,
        [
            text_candidate("https://c.example/3", third),
            text_candidate("https://d.example/4", third + "\nAdvertisement"),
        ],
        2,
    )
    clusters = rows(
        tmp_path, "SELECT DISTINCT cluster_id FROM articles WHERE url NOT LIKE '%foot%'"
    )
    assert clusters == [(root,)]
    assert rows(tmp_path, "SELECT count(DISTINCT article_id) FROM article_bands") == [(5,)]


def test_only_material_changes_make_a_revision(tmp_path: Path) -> None:
    url = "https://a.example/story"
    load(tmp_path, [text_candidate(url, "Updated 5 minutes ago\n" + STORY)], 0)
    report = load(tmp_path, [text_candidate(url, "Updated 2 hours ago\n" + STORY)], 1)
    assert report.updated == 0 and report.unchanged == 1
    assert rows(tmp_path, "SELECT count(*) FROM article_versions") == [(0,)]
    corrected = STORY.replace("more than a decade", "nearly twenty years")
    report = load(tmp_path, [text_candidate(url, corrected)], 2)
    assert report.updated == 1
    assert rows(tmp_path, "SELECT text FROM articles") == [(corrected,)]
    assert rows(tmp_path, "SELECT text FROM article_versions") == [
        ("Updated 5 minutes ago\n" + STORY,)
    ]


def test_fetched_pages_are_extracted_and_their_html_kept_once(tmp_path: Path) -> None:
    html = page({"@type": "NewsArticle", "headline": "Council backs tram line"})
    url = "https://news.example/2024/03/05/trams"
    fetched = Candidate("feed", "feed", url, html=html, summary="Trams.", fetched_at=T0)
    wall = Candidate(
        "feed",
        "feed",
        "https://news.example/walled",
        html="<html><head><title>Just a moment...</title></head><body>"
        "<p>Checking your browser before accessing news.example.</p></body></html>",
        summary="The council voted for the tram line on Tuesday evening.",
        title="Council backs tram line",
    )
    load(tmp_path, [fetched, wall], 0)
    load(tmp_path, [Candidate("feed", "feed", url, html=html, fetched_at=T0)], 1)
    got = rows(
        tmp_path,
        "SELECT url, access_status, extractor IS NOT NULL, published_source, reading_minutes, "
        "text FROM articles ORDER BY url",
    )
    assert got[0][:5] == (url, "full", True, "url", 1) and "tram network" in got[0][5]
    assert got[1][1:2] == ("bot_challenge",)
    assert got[1][5] == "The council voted for the tram line on Tuesday evening."
    stored = rows(tmp_path, "SELECT url, html_zstd FROM raw_pages ORDER BY url")
    assert [u for u, _ in stored] == [url, "https://news.example/walled"]
    assert page_html(stored[0][1]) == html


def test_a_batch_spooled_before_migration_003_still_loads(tmp_path: Path) -> None:
    batch = process_candidates([text_candidate("https://a.example/x", STORY)], "t", now=T0)
    spooled = write_batch(batch, str(tmp_path / "spool"))
    path = tmp_path / "spool" / spooled.batch_id / "articles.parquet"
    table = pq.read_table(path)
    pq.write_table(table.select(table.column_names[:14]), path)  # the 001 columns only
    report = load_spool(tmp_path / "news.duckdb", str(tmp_path / "spool"), lock_wait=10)
    assert report.loaded == 1
    assert rows(tmp_path, "SELECT cluster_id = article_id, access_status FROM articles") == [
        (True, "full")
    ]
