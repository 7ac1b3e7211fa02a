"""Hostile input against the real parts (issue 16, items 2-5): a real local HTTP server, the
``newsflow`` command in a subprocess, real Prefect flow runs, a real DuckDB warehouse.

- 2: a page declaring a charset no page is written in (``hex``, ``base64``, ``idna``, ...)
  is that page's ``bad_encoding`` reject; the 20 good entries beside it load, exit 0.
- 3: a billion-laughs feed whose DOCTYPE hides behind ``<!ENTITY a0 "<b/>">`` is defused,
  the removal is in ``feeds.last_error``, and the run's memory stays that of a benign feed.
- 4: a sitemap index of 120 children is read up to the limit of fetched files, and the cut
  is a ``sitemap_limit`` reject of the run.
- 5: a spool that is empty, the warehouse's folder, a parent of the project or
  ``memory://`` is refused with one line and exit 2; maintenance only ever removes
  batch-named folders.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from newsflow.settings import Settings
from tests.fetch_server import FaultServer, article_html, page
from tests.helpers import WORDS, local_fetch_settings
from tests.test_fetch_integration import HEADROOM_MB, rows, run_cli

ROOT = Path(__file__).resolve().parent.parent
GOOD = 20
# Every codec label Python knows that no page can be decoded with: bytes-to-bytes codecs,
# and text codecs that cannot read arbitrary bytes. Where each is declared varies.
HOSTILE = {
    "hex": "meta",
    "rot13": "header",
    "base64": "meta",
    "zlib": "header",
    "uu": "meta",
    "bz2": "header",
    "quopri": "meta",
    "idna": "header",
    "punycode": "meta",
    "undefined": "header",
}


def story(i: int) -> list[str]:
    """Five paragraphs of their own (no two entries are near-duplicates of each other)."""
    rng = random.Random(i)
    return [
        " ".join(rng.choice(WORDS) for _ in range(40)).capitalize() + f" (story {i}, part {p})."
        for p in range(5)
    ]


def rss(items: list[tuple[str, str]], title: str = "Hostile") -> bytes:
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid></item>"
        for t, link in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{entries}'
        "</channel></rss>"
    ).encode()


def laughs_feed(link: str) -> bytes:
    """Billion laughs whose first entity value holds a ``<``: today's stripper stops there."""
    chain = "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a0 "<b/>">{chain}]><rss version="2.0">'
        f"<channel><title>L</title><item><title>&a9;</title><link>{link}</link></item>"
        "</channel></rss>"
    ).encode()


def benign_feed(link: str, size: int) -> bytes:
    """An ordinary feed of ``size`` bytes (a comment pads it)."""
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>L</title><item><title>Plain'
        f"</title><link>{link}</link></item></channel></rss>"
    )
    return (body + "<!--" + "x" * max(0, size - len(body) - 7) + "-->").encode()


@pytest.fixture(scope="module")
def site() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    r = srv.routes
    good = [(f"Good {i}", srv.url(f"/good/{i}")) for i in range(GOOD)]
    for i in range(GOOD):
        r[f"/good/{i}"] = page(article_html(f"Good story {i}", story(i)))
    for charset, where in HOSTILE.items():
        paragraphs = story(100 + len(charset))
        if where == "meta":
            html = article_html(f"Hostile {charset}", paragraphs, charset=charset)
            r[f"/hostile/{charset}"] = page(html, "text/html")
        else:
            html = article_html(f"Hostile {charset}", paragraphs)
            r[f"/hostile/{charset}"] = page(html, f"text/html; charset={charset}")
    hostile = [(f"Hostile {c}", srv.url(f"/hostile/{c}")) for c in HOSTILE]
    r["/feeds/mixed.xml"] = page(rss(good + hostile), "application/rss+xml")
    # item 3: the laughs feed and a benign feed of the same size
    r["/laughs/1"] = page(article_html("Laughs", story(300)))
    r["/plain/1"] = page(article_html("Plain", story(301)))
    laughs = laughs_feed(srv.url("/laughs/1"))
    r["/feeds/laughs.xml"] = page(laughs, "application/rss+xml")
    r["/feeds/plain.xml"] = page(
        benign_feed(srv.url("/plain/1"), len(laughs)), "application/rss+xml"
    )
    try:
        yield srv
    finally:
        srv.stop()


def cli_env(folder: Path) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    assert api, "the Prefect test harness sets the API URL"
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    return base | {
        "PREFECT_API_URL": api,
        "PYTHONPATH": str(ROOT),
        "NEWSFLOW_DB": str(folder / "news.duckdb"),
        "NEWSFLOW_SPOOL": str(folder / "spool"),
        "NEWSFLOW_ALLOW_PRIVATE": "127.0.0.1",
        "NEWSFLOW_HTTP_TIMEOUT": "5",
        "NEWSFLOW_PER_HOST_DELAY": "0",
        "NEWSFLOW_PER_HOST_CONCURRENCY": "4",
        "NEWSFLOW_HTTP_RETRIES": "0",
        "NEWSFLOW_WORKERS": "1",
    }


def ingest_feed(url: str, folder: Path) -> tuple[dict[str, Any], dict[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    env = cli_env(folder)
    return run_cli(["ingest-feeds", "--feed", url], env, folder), env


# --- 2: one hostile page fails nothing but itself ------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_2_hostile_charset_is_one_reject_and_the_good_entries_load(
    site: FaultServer, tmp_path: Path
) -> None:
    feed = site.url("/feeds/mixed.xml")
    result, env = ingest_feed(feed, tmp_path)
    assert result["exit"] == 0, result["stderr"][-3000:]
    loaded = {u for (u,) in rows(env, "SELECT url FROM articles")}
    assert loaded == {site.url(f"/good/{i}") for i in range(GOOD)}  # 20 of 20
    rejects = {
        s.rsplit("/", 1)[-1]: (stage, reason, detail)
        for s, stage, reason, detail in rows(
            env, "SELECT source, stage, reason, detail FROM rejects"
        )
    }
    assert set(rejects) == set(HOSTILE)
    for charset, (stage, reason, detail) in rejects.items():
        assert (stage, reason) == ("fetch", "bad_encoding"), (charset, stage, reason)
        assert charset in detail
    assert rows(env, "SELECT url, last_status, last_entries, last_error FROM feeds") == [
        (feed, 200, GOOD + len(HOSTILE), None)
    ]
    assert rows(env, "SELECT status FROM runs") == [("completed",)]


@pytest.mark.usefixtures("prefect_harness")
def test_any_exception_on_one_feed_is_its_reject(
    site: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The boundary also holds for an error no stage expects (here a parser bug, injected:
    no real input is known to trip it): the feed is a ``process_error`` reject naming the
    exception's class, and the other feed's entries are polled."""
    from newsflow.tasks import feed_intake

    real = feed_intake.parse_feed

    def buggy(body: bytes, url: str, content_type: str = "") -> Any:
        if url.endswith("plain.xml"):
            raise RuntimeError("a bug in parsing")
        return real(body, url, content_type)

    monkeypatch.setattr(feed_intake, "parse_feed", buggy)
    settings = local_fetch_settings(tmp_path)
    feeds = [(site.url("/feeds/plain.xml"), None, None, None)]
    feeds += [(site.url("/feeds/mixed.xml"), None, None, None)]
    plain, mixed = asyncio.run(feed_intake.poll_feeds(feeds, settings, "run-1"))
    assert plain.reject is not None and plain.reject.reason == "process_error"
    assert plain.reject.detail.startswith("RuntimeError: a bug in parsing")
    assert plain.state.error and "process_error" in plain.state.error
    assert mixed.reject is None and mixed.parsed is not None
    assert len(mixed.parsed.entries) == GOOD + len(HOSTILE)


# --- 3: the entity policy cannot be bypassed -------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_3_laughs_behind_an_entity_value_are_defused_and_recorded(
    site: FaultServer, tmp_path: Path
) -> None:
    plain, _ = ingest_feed(site.url("/feeds/plain.xml"), tmp_path / "plain")
    assert plain["exit"] == 0, plain["stderr"][-3000:]
    laughs, env = ingest_feed(site.url("/feeds/laughs.xml"), tmp_path / "laughs")
    assert laughs["exit"] == 0, laughs["stderr"][-3000:]
    # the same command on a benign feed of the same size is the baseline: an expanded bomb
    # (~350 MB today) blows far past it
    assert laughs["maxrss_kb"] / 1024 < plain["maxrss_kb"] / 1024 + HEADROOM_MB
    assert rows(env, "SELECT url FROM articles") == [(site.url("/laughs/1"),)]
    ((error,),) = rows(env, "SELECT last_error FROM feeds")
    assert error and error.startswith("entity declarations removed")


def test_opml_import_shares_the_entity_policy(tmp_path: Path) -> None:
    """``feeds import-opml`` through the CLI: the same bypass gives the feed, nothing expanded."""
    chain = "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    opml = tmp_path / "subs.opml"
    opml.write_text(
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a0 "<b/>">{chain}]><opml version="2.0">'
        '<head><title>&a9;</title></head><body><outline text="News &a9;" '
        'xmlUrl="https://news.example.com/feed.xml"/></body></opml>'
    )
    feeds_file = tmp_path / "feeds.toml"
    args = ["feeds", "import-opml", str(opml), "--feeds-file", str(feeds_file)]
    proc = subprocess.run(
        [sys.executable, "-m", "newsflow.cli", *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    text = feeds_file.read_text()
    assert 'url = "https://news.example.com/feed.xml"' in text and len(text) < 300


# --- 4: a large sitemap index is read up to the limit, and the cut is recorded ---------


@pytest.fixture
def big_index() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    children = "".join(
        f"<sitemap><loc>{srv.url(f'/sm/{i}.xml')}</loc></sitemap>" for i in range(120)
    )
    srv.routes["/index.xml"] = page(
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{children}'
        "</sitemapindex>",
        "application/xml",
    )
    for i in range(120):
        # only the first children list a URL in the range: the run fetches few pages
        when = "2024-05-02" if i < 3 else "2023-01-01"
        srv.routes[f"/sm/{i}.xml"] = page(
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url>'
            f"<loc>{srv.url(f'/a/{i}')}</loc><lastmod>{when}</lastmod></url></urlset>",
            "application/xml",
        )
        srv.routes[f"/a/{i}"] = page(article_html(f"Sitemap story {i}", story(500 + i)))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_4_sitemap_index_of_120_children_is_read_to_the_limit(
    big_index: FaultServer, tmp_path: Path
) -> None:
    from newsflow.flows.backfill import BackfillMode, BackfillRequest, run_backfill

    settings = local_fetch_settings(tmp_path, workers=1)
    request = BackfillRequest(
        since=date(2024, 5, 1),
        until=date(2024, 5, 3),
        mode=BackfillMode.sitemaps,
        sitemaps=[big_index.url("/index.xml")],
    )
    result = run_backfill(request, settings)
    assert result["sitemaps"]["in_range"] == 3
    assert result["sitemaps"]["fetched"] == 3
    fetched = [i for i in range(120) if big_index.count(f"/sm/{i}.xml")]
    assert fetched == list(range(99))  # the index and 99 children: 100 files
    env = {"NEWSFLOW_DB": str(settings.db)}
    assert len(rows(env, "SELECT * FROM articles")) == 3
    cut = rows(env, "SELECT source, stage, reason, detail FROM rejects")
    assert len(cut) == 1
    source, stage, reason, detail = cut[0]
    assert (source, stage, reason) == (big_index.url("/index.xml"), "sitemap", "sitemap_limit")
    assert "21 sitemaps not read" in detail


# --- 5: the spool can never point where removing folders would hurt --------------------


def project_like(tmp_path: Path) -> Path:
    """A folder shaped like a checkout: warehouse (with the fetch caches), tests, .git."""
    project = tmp_path / "project"
    for sub in ("warehouse/.hosts", "warehouse/.robots", "tests", ".git/objects", "seeds"):
        (project / sub).mkdir(parents=True)
        (project / sub / "keep.txt").write_text("precious")
    return project


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.usefixtures("prefect_harness")
def test_5_misconfigured_spool_is_refused_and_only_batches_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsflow.flows.maintenance import maintenance
    from newsflow.tasks import spool

    project = project_like(tmp_path)
    before = tree(project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env["PYTHONPATH"] = str(ROOT)
    for bad in ("", "warehouse", ".", "..", "memory://spool"):
        proc = subprocess.run(
            [sys.executable, "-m", "newsflow.cli", "status"],
            cwd=project,
            env=env | {"NEWSFLOW_SPOOL": bad},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, (bad, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "NEWSFLOW_SPOOL" in lines[0], (bad, proc.stderr)
        assert "Traceback" not in proc.stderr

    # the maintenance flow, as the schedule runs it, in the project with an empty spool
    monkeypatch.chdir(project)
    monkeypatch.setenv("NEWSFLOW_SPOOL", "")
    with pytest.raises(ValueError, match="spool may not be empty"):
        maintenance(abandoned_after_hours=0, reprobe_feeds=False)
    assert tree(project) == before

    # a spool shared with other folders: only an abandoned batch folder is ever removed
    shared = project / "warehouse" / "spool"
    for other in (".hosts", ".robots", "warehouse", "notes", "20240101T000000"):
        (shared / other).mkdir(parents=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    dead = shared / f"{stamp}-0123456789ab"
    dead.mkdir()
    (dead / "articles.parquet").write_bytes(b"half")
    monkeypatch.setenv("NEWSFLOW_SPOOL", str(shared))
    settings = Settings(db=project / "warehouse" / "news.duckdb", _env_file=None)  # type: ignore[call-arg]
    report = maintenance(abandoned_after_hours=0, reprobe_feeds=False, settings=settings)
    assert report["abandoned_removed"] == 1
    assert sorted(p.name for p in shared.iterdir()) == sorted(
        [".hosts", ".robots", "20240101T000000", "notes", "warehouse"]
    )
    with pytest.raises(ValueError, match="not a spool batch"):
        spool.remove_batch(str(shared), "warehouse")
    assert (shared / "warehouse").is_dir()


# --- the DOCTYPE scanner on its own: what a pattern-based stripper gets wrong --------------


@pytest.mark.parametrize(
    "subset",
    [
        '<!ENTITY a0 "<b/>">',  # a "<" in a value (today's bypass)
        "<!ENTITY a0 '>]>'>",  # the end of a DOCTYPE inside a quoted value
        '<!-- a comment with "quotes and ]> inside --><!ENTITY a0 "x">',
        '<?pi ]> ?><!ENTITY a0 "x">',
    ],
)
def test_doctype_scan_ends_where_a_parser_does(subset: str) -> None:
    from newsflow.tasks.feeds import parse_feed

    chain = "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    for encoding in ("utf-8", "utf-16"):
        body = (
            f'<?xml version="1.0" encoding="{encoding}"?><!-- lead -->'
            f'<!DOCTYPE rss SYSTEM "x>y" [{subset}{chain}]><rss version="2.0"><channel>'
            "<title>T</title><item><title>A &a9; b</title>"
            "<link>http://e.example.com/1</link></item></channel></rss>"
        )
        data = body.encode(encoding)
        feed = parse_feed(data, "http://e.example.com/feed.xml", "application/rss+xml")
        assert feed.error == "entity declarations removed", encoding
        assert [(e.title, e.link) for e in feed.entries] == [("A b", "http://e.example.com/1")]


def test_safe_entities_kept_and_an_unterminated_doctype_refused() -> None:
    from newsflow.tasks.feeds import parse_feed
    from newsflow.tasks.xmlsafe import UnsafeXML, strip_doctype

    nbsp = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nbsp "&#160;"><!ENTITY co "ACME">]>'
        b'<rss version="2.0"><channel><title>T</title><item><title>A&nbsp;&co;</title>'
        b"<link>http://e.example.com/1</link><description><![CDATA[&co;]]></description>"
        b"</item></channel></rss>"
    )
    feed = parse_feed(nbsp, "http://e.example.com/feed.xml", "application/rss+xml")
    assert [e.title for e in feed.entries] == ["A ACME"]  # &#160; kept (a space once tidied)
    summary = feed.entries[0].summary or ""
    assert "co" in summary and "ACME" not in summary  # CDATA is text: never replaced
    open_ended = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "x">'
    with pytest.raises(UnsafeXML):
        strip_doctype(open_ended + b"<rss/>")
    refused = parse_feed(open_ended + b"<rss/>", "http://e.example.com/f", "application/rss+xml")
    assert refused.entries == [] and refused.error == "refused: a DOCTYPE that never ends"


@pytest.mark.parametrize("charset", ["undefined", "punycode", "hex"])
def test_feed_declaring_a_charset_no_text_is_written_in_still_parses(charset: str) -> None:
    """In the Content-Type or the XML declaration: feedparser itself fails on some of them."""
    from newsflow.tasks.feeds import parse_feed

    body = (
        b'<?xml version="1.0" encoding="ENC"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>A</title><link>http://e.example.com/1</link></item></channel></rss>"
    )
    declared = body.replace(b"ENC", charset.encode())
    plain = body.replace(b"ENC", b"utf-8")
    for data, ctype in ((declared, ""), (plain, f"; charset={charset}")):
        feed = parse_feed(data, "http://e.example.com/f", "application/rss+xml" + ctype)
        assert [e.link for e in feed.entries] == ["http://e.example.com/1"]
        assert feed.error == f"declared charset {charset!r} ignored"
