"""Pure parsing: page charsets, every feed format, hostile XML, OPML, feeds.toml, sitemaps."""

from __future__ import annotations

import gzip
import resource
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsflow.tasks.decoding import check_html, decode_html
from newsflow.tasks.errors import FetchRefused
from newsflow.tasks.feeds import (
    FeedsFile,
    append_feeds,
    entry_candidate,
    load_feeds_file,
    parse_feed,
    parse_opml,
    select,
)
from newsflow.tasks.sitemaps import in_range, parse_sitemap

ROOT = Path(__file__).resolve().parent.parent

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>Laughs</title>
<item><title>&lol9;</title><link>/laughs/1</link><guid>laughs-1</guid></item>
</channel></rss>"""


def quadratic_feed(entity_size: int = 50_000, refs: int = 100_000) -> bytes:
    """One big entity referenced many times: ~0.3 MB of XML that would expand to 5 GB."""
    return (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "'
        + b"A" * entity_size
        + b'">]><rss version="2.0"><channel><title>Quad</title><item><title>'
        + b"&a;" * refs
        + b"</title><link>/quad/1</link></item></channel></rss>"
    )


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://news.example.com/world/">
  <title>Example World</title><id>urn:feed</id><updated>2024-03-01T00:00:00Z</updated>
  <entry><title>One</title><link href="one.html"/><id>urn:1</id>
    <published>2024-03-01T08:00:00+01:00</published><updated>2024-03-01T09:00:00Z</updated>
    <author><name>Ada</name></author><category term="politics"/></entry>
  <entry xml:base="/other/"><title>Two</title><link rel="alternate" href="two.html"/>
    <id>urn:2</id><updated>2024-03-02T00:00:00Z</updated></entry>
  <entry><title>Three</title><link href="/abs/three"/><id>urn:3</id>
    <updated>2024-03-02T00:00:00Z</updated></entry>
</feed>"""

RSS091 = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title>
<link>http://old.example.com/</link><description>d</description>
<item><title>Old item</title><link>http://old.example.com/1</link></item></channel></rss>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
 xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://rdf.example.com/"><title>RDF</title><link>http://rdf.example.com/</link>
<description>d</description></channel>
<item rdf:about="http://rdf.example.com/1"><title>R1</title><link>http://rdf.example.com/1</link>
<dc:date>2024-01-03T10:00:00Z</dc:date><dc:creator>Bo</dc:creator></item></rdf:RDF>"""

JSON_FEED = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "J",
 "items": [{"id": "1", "url": "/posts/1", "title": "Jay", "date_published": "2024-02-01T10:00:00Z",
            "authors": [{"name": "Cy"}], "tags": ["x"], "summary": "S"},
           {"id": 2, "external_url": "https://elsewhere.example.org/a"},
           {"id": "3"}]}"""


def test_atom_relative_links_and_xml_base() -> None:
    feed = parse_feed(ATOM, "https://news.example.com/feeds/atom.xml", "application/atom+xml")
    assert feed.kind == "atom10" and feed.error is None
    links = [e.link for e in feed.entries]
    assert links == [
        "https://news.example.com/world/one.html",
        "https://news.example.com/other/two.html",
        "https://news.example.com/abs/three",
    ]
    first = feed.entries[0]
    assert first.published == datetime(2024, 3, 1, 7, tzinfo=UTC)
    assert (first.authors, first.tags, first.guid) == (["Ada"], ["politics"], "urn:1")


def test_rss_091_rdf_and_json_feed() -> None:
    old = parse_feed(RSS091, "http://old.example.com/rss")
    assert old.kind == "rss091u" and [e.link for e in old.entries] == ["http://old.example.com/1"]
    rdf = parse_feed(RDF, "http://rdf.example.com/rdf")
    assert rdf.kind == "rss10" and rdf.entries[0].link == "http://rdf.example.com/1"
    assert rdf.entries[0].authors == ["Bo"]
    js = parse_feed(JSON_FEED, "https://j.example.com/feed.json", "application/feed+json")
    assert [e.link for e in js.entries] == [
        "https://j.example.com/posts/1",
        "https://elsewhere.example.org/a",
        None,
    ]
    assert js.entries[0].published == datetime(2024, 2, 1, 10, tzinfo=UTC)
    assert js.entries[1].guid == "2"
    assert (
        entry_candidate(js.entries[2], "https://j.example.com/feed.json", datetime.now(UTC)) is None
    )


def test_malformed_feed_still_yields_entries_with_the_reason() -> None:
    broken = (
        b'<rss version="2.0"><channel><title>B</title>'
        b"<item><title>x & y</title><link>http://b.example.com/2</link></item>"
        b"<item><title>z</title><link>http://b.example.com/3</link>"
    )
    feed = parse_feed(broken, "http://b.example.com/rss", "application/rss+xml")
    assert [e.link for e in feed.entries] == ["http://b.example.com/2", "http://b.example.com/3"]
    assert feed.error and "not well-formed" in feed.error


def test_not_a_feed() -> None:
    feed = parse_feed(b"<html><body>hello</body></html>", "http://x.example.com/", "text/html")
    assert feed.entries == [] and feed.error == "not a feed"


@pytest.mark.parametrize("body", [LAUGHS, quadratic_feed()], ids=["billion-laughs", "quadratic"])
def test_entity_bombs_do_not_expand(body: bytes) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    feed = parse_feed(body, "http://bomb.example.com/feed.xml", "application/rss+xml")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100
    assert feed.error and "entity declarations removed" in feed.error
    assert len(feed.entries) == 1 and feed.entries[0].link.startswith("http://bomb.example.com/")
    assert len(feed.entries[0].title or "") <= 1000


def test_feedparser_never_opens_paths_or_urls(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(RSS091)
    # bytes that name a file must be parsed as a (non-)feed, not opened
    feed = parse_feed(str(secret).encode(), "http://x.example.com/feed")
    assert feed.entries == []


def test_seed_feeds_file_is_valid() -> None:
    feeds = load_feeds_file(ROOT / "seeds" / "feeds.toml").feeds
    assert len(feeds) >= 3
    for spec in feeds:
        assert spec.url.startswith("https://") and spec.name and spec.tags
    assert {s.url for s in select(feeds, ["tech"])} < {s.url for s in feeds}


def test_feeds_file_rejects_bad_entries() -> None:
    with pytest.raises(ValueError):
        FeedsFile.model_validate({"feeds": [{"url": "ftp://x.example.com/feed"}]})
    with pytest.raises(ValueError):
        FeedsFile.model_validate({"feeds": [{"url": "https://a.example.com/f", "colour": 1}]})
    twice = {"url": "https://a.example.com/f"}
    with pytest.raises(ValueError):
        FeedsFile.model_validate({"feeds": [twice, twice]})


def test_opml_import_appends_new_feeds(tmp_path: Path) -> None:
    opml = b"""<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
    <outline text="World"><outline type="rss" text="Example World" title="Example World"
       xmlUrl="https://news.example.com/world.xml" htmlUrl="https://news.example.com/"/>
      <outline type="rss" text="Dup" xmlUrl="https://old.example.com/feed"/></outline>
    <outline type="rss" text="Tech &amp; more" xmlUrl="https://tech.example.org/rss"
       category="/tech/gadgets"/>
    <outline type="rss" text="bad" xmlUrl="javascript:alert(1)"/>
    </body></opml>"""
    specs = parse_opml(opml)
    assert [(s.url, s.name, s.tags) for s in specs] == [
        ("https://news.example.com/world.xml", "Example World", ["world"]),
        ("https://old.example.com/feed", "Dup", ["world"]),
        ("https://tech.example.org/rss", "Tech & more", ["gadgets", "tech"]),
    ]
    path = tmp_path / "feeds.toml"
    path.write_text('# mine\n[[feeds]]\nurl = "https://old.example.com/feed"\n')
    added = append_feeds(path, specs)
    assert len(added) == 2
    text = path.read_text()
    assert text.startswith("# mine\n")
    assert [s.url for s in load_feeds_file(path).feeds] == [
        "https://old.example.com/feed",
        "https://news.example.com/world.xml",
        "https://tech.example.org/rss",
    ]
    assert append_feeds(path, specs) == []


def test_charsets() -> None:
    latin = "<html><body><p>Café crème à la française</p></body></html>".encode("latin-1")
    assert "Café crème" in decode_html(latin, "text/html; charset=ISO-8859-1")
    cyr = '<html><head><meta charset="windows-1251"></head><body>Привет, мир</body></html>'
    assert "Привет, мир" in decode_html(cyr.encode("cp1251"), "text/html")
    equiv = (
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        "<p>Новости дня</p>"
    )
    assert "Новости дня" in decode_html(equiv.encode("cp1251"))
    bom = "\ufeff<p>naïve</p>".encode()
    assert decode_html(bom, "text/html; charset=iso-8859-1") == "<p>naïve</p>"
    sniffed = "<html><body><p>" + "Съешь же ещё этих мягких французских булок. " * 20 + "</p>"
    assert "французских" in decode_html(sniffed.encode("cp1251"), "text/html")


def test_not_html() -> None:
    with pytest.raises(FetchRefused) as info:
        check_html("application/pdf", b"%PDF-1.4", "http://x/doc.pdf")
    assert info.value.reason == "not_html"
    with pytest.raises(FetchRefused):
        check_html("text/html", b"%PDF-1.4 ...", "http://x/doc")
    with pytest.raises(FetchRefused):
        check_html("image/png", b"\x89PNG", "http://x/i.png")
    check_html("text/html; charset=utf-8", b"<p>x</p>", "http://x/")
    check_html("", b"<!DOCTYPE html><html>", "http://x/")


def test_sitemaps() -> None:
    news = b"""<?xml version="1.0" encoding="UTF-8"?>
    <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
            xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
      <url><loc>https://n.example.com/a</loc><lastmod>2024-05-02</lastmod>
        <news:news><news:publication><news:name>N</news:name><news:language>en</news:language>
        </news:publication><news:publication_date>2024-05-01T12:00:00+02:00</news:publication_date>
        <news:title>Headline A</news:title></news:news></url>
      <url><loc>https://n.example.com/b</loc><lastmod>2023-01-01T00:00:00Z</lastmod></url>
      <url><loc>not a url</loc></url>
    </urlset>"""
    sm = parse_sitemap(gzip.compress(news))
    assert [u.loc for u in sm.urls] == ["https://n.example.com/a", "https://n.example.com/b"]
    a = sm.urls[0]
    assert a.published == datetime(2024, 5, 1, 10, tzinfo=UTC) and a.title == "Headline A"
    assert a.lastmod == datetime(2024, 5, 2, tzinfo=UTC)
    since = datetime(2024, 1, 1, tzinfo=UTC)
    assert [u.loc for u in sm.urls if in_range(u, since)] == ["https://n.example.com/a"]
    index = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>https://n.example.com/s1.xml.gz</loc><lastmod>2024-05-01</lastmod></sitemap>
    </sitemapindex>"""
    idx = parse_sitemap(index)
    assert [s.loc for s in idx.sitemaps] == ["https://n.example.com/s1.xml.gz"] and not idx.urls
    assert [
        u.loc for u in parse_sitemap(b"https://t.example.com/1\nhttps://t.example.com/2\n").urls
    ]
    bomb = parse_sitemap(
        LAUGHS.replace(
            b"<rss", b"<urlset><url><loc>https://l.example.com/&lol9;</loc></url></urlset><x"
        )
    )
    assert all(len(u.loc) < 200 for u in bomb.urls)
