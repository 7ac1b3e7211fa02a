"""Extraction, date reconciliation and enrichment on small real-shaped pages."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest
from lxml import etree
from trafilatura.utils import decode_file, load_html

from eval.corpora import EVAL_ROOT
from newsflow.tasks import extract as extract_mod
from newsflow.tasks.articles import reconcile_dates, text_from_page
from newsflow.tasks.enrich import access_status, normalize_authors
from newsflow.tasks.errors import BadInput
from newsflow.tasks.extract import (
    EXTRACTOR_VERSION,
    choose_text,
    clean_lines,
    extract,
    needs_full,
    parse_html,
)
from newsflow.tasks.records import Candidate, DateClaim, reading_minutes

PARAGRAPHS = [
    "The city council voted on Tuesday to expand the tram network to the northern suburbs, "
    "a project that has been debated for more than a decade by residents and planners.",
    "Supporters said the new line would cut commuting times in half and reduce traffic on "
    "the main roads, while critics warned about the cost and the years of construction work.",
    "The mayor said the first trams could run by the end of the decade if the regional "
    "government agrees to pay its share of the budget, which is still under negotiation.",
    "Residents of the northern districts welcomed the decision at a crowded public meeting "
    "on Tuesday evening, where several speakers described their daily journeys into town.",
]


def page(
    jsonld: dict | None = None,
    body: list[str] | None = None,
    head: str = "",
    title: str = "Council backs tram line",
) -> str:
    script = f'<script type="application/ld+json">{json.dumps(jsonld)}</script>' if jsonld else ""
    paras = "".join(f"<p>{p}</p>" for p in (PARAGRAPHS if body is None else body))
    return (
        f"<html><head><title>{title}</title>{head}{script}</head><body>"
        "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article><h1>{title}</h1>{paras}</article>"
        "<footer>Contact us. Privacy policy. Terms of use.</footer></body></html>"
    )


def test_metadata_from_jsonld_and_open_graph() -> None:
    jsonld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": "Council backs tram line",
        "author": [{"@type": "Person", "name": "BY JANE DOE"}, {"name": "John Smith"}],
        "datePublished": "2024-03-05T10:00:00+01:00",
        "dateModified": "2024-03-06T08:00:00Z",
        "articleSection": "Local",
        "keywords": "trams, transport",
        "publisher": {"@type": "Organization", "name": "Daily Planet"},
    }
    head = (
        '<meta property="og:site_name" content="The Daily Planet">'
        '<meta property="og:image" content="/img/tram.jpg">'
        '<meta property="og:description" content="The council voted for trams.">'
        '<link rel="canonical" href="https://news.example/trams">'
    )
    got = extract(page(jsonld, head=head), "https://news.example/2024/03/05/trams?utm=x")
    assert "tram network" in got.text and "Privacy policy" not in got.text
    assert got.title == "Council backs tram line"
    assert got.site_name == "The Daily Planet"
    assert got.image == "https://news.example/img/tram.jpg"
    assert got.canonical_url == "https://news.example/trams"
    assert got.description == "The council voted for trams."
    assert got.categories == ["Local"] and got.tags == ["trams", "transport"]
    assert normalize_authors(got.authors) == ["Jane Doe", "John Smith"]
    assert got.extractor == EXTRACTOR_VERSION and got.access_status == "full"
    sources = {(c.kind, c.source) for c in got.dates}
    assert {("published", "jsonld"), ("modified", "jsonld"), ("published", "url")} <= sources


def test_jsonld_body_wins_only_when_the_page_text_misses_most_of_it() -> None:
    body = " ".join(PARAGRAPHS)
    # The page text has only the first paragraph: the publisher's articleBody has all four.
    text, source = choose_text(PARAGRAPHS[0], body)
    assert source == "jsonld" and text == body
    # A full page keeps trafilatura's text (paragraph breaks) even with a body present.
    jsonld = {"@type": "NewsArticle", "headline": "x", "articleBody": body}
    got = extract(page(jsonld), "https://news.example/a")
    assert got.text_source == "trafilatura" and got.text.count("\n") >= 3
    # A short teaser body never replaces the page text, nor does a body the text covers.
    assert choose_text("\n".join(PARAGRAPHS), "The council voted.")[1] == "trafilatura"
    assert choose_text("\n".join(PARAGRAPHS[:3]), body)[1] == "trafilatura"


def test_lines_that_are_not_article_text_are_dropped() -> None:
    text = "\n".join(
        [
            "Council backs tram line",
            PARAGRAPHS[0],
            "CLICK HERE TO GET THE NEWS APP",
            "MAYOR PROMISES NEW BUSES FOR THE SUBURBS",
            PARAGRAPHS[1],
            "Our Standards: The Trust Principles.",
            "Jane Doe is a reporter for the Daily Planet. Follow her on Twitter @janedoe.",
        ]
    )
    assert clean_lines(text, ["Council backs tram line - Daily Planet"]) == "\n".join(
        PARAGRAPHS[:2]
    )


def test_paywall_flag_and_not_article() -> None:
    jsonld = {"@type": "NewsArticle", "headline": "x", "isAccessibleForFree": "False"}
    assert extract(page(jsonld), "https://news.example/a").access_status == "paywalled"
    product = {"@type": "Product", "name": "Tram model"}
    assert extract(page(product), "https://shop.example/p").access_status == "not_article"


def test_challenge_and_consent_pages_never_become_articles() -> None:
    challenge = (
        "<html><head><title>Just a moment...</title></head><body><div id='cf-challenge'>"
        "<p>Checking your browser before accessing news.example.</p>"
        "<script>window._cf_chl_opt={}</script></div></body></html>"
    )
    with pytest.raises(BadInput) as error:
        extract(challenge, "https://news.example/a")
    assert error.value.reason == "bot_challenge"
    consent = page(
        body=[
            "We value your privacy. We and our partners use cookies to store and access "
            "information on your device. Accept all or manage your choices below."
        ],
        title="Before you continue",
    )
    with pytest.raises(BadInput) as error:
        extract(consent, "https://consent.news.example/?continue=x")
    assert error.value.reason == "consent_wall"
    # With a feed summary, the summary is kept as the text, with the status.
    candidate = Candidate("feed", "f", "https://news.example/a", html=challenge, summary="Trams.")
    done = text_from_page(candidate)
    assert done.text == "Trams." and done.access_status == "bot_challenge"
    with pytest.raises(BadInput):
        text_from_page(Candidate("url", "u", "https://news.example/a", html=consent))


def test_teaser_is_paywalled_when_page_text_is_no_longer_than_feed_summary() -> None:
    summary = " ".join(PARAGRAPHS[:2])
    assert access_status("full", 60, summary) == "paywalled"
    assert access_status("full", 400, summary) == "full"
    assert access_status("full", 60, None) == "full"


def test_date_rule_refuses_impossible_dates_and_keeps_sources() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    claims = [
        DateClaim("published", datetime(1985, 1, 1, tzinfo=UTC), "jsonld"),  # before the web
        DateClaim("published", datetime(2024, 5, 1, tzinfo=UTC), "htmldate"),
        DateClaim("published", datetime(2024, 5, 2, tzinfo=UTC), "feed"),
        DateClaim("published", datetime(2030, 1, 1, tzinfo=UTC), "meta"),  # future
        DateClaim("modified", datetime(2024, 4, 1, tzinfo=UTC), "jsonld"),  # before published
        DateClaim("modified", datetime(2024, 5, 3, tzinfo=UTC), "meta"),
    ]
    dates = reconcile_dates(claims, now)
    assert dates.published == claims[2]  # feed outranks htmldate once jsonld/meta are refused
    assert dates.modified == claims[5]
    assert {c.source for c in dates.refused} == {"jsonld", "meta"}


def test_authors_and_reading_time() -> None:
    assert normalize_authors(["By Jane Doe and John Smith", "jane doe", "@handle"]) == [
        "Jane Doe",
        "John Smith",
    ]
    assert normalize_authors(["Doe, Jane"]) == ["Doe, Jane"]
    assert normalize_authors(["Anna Berg, Carl Nilsson"]) == ["Anna Berg", "Carl Nilsson"]
    assert reading_minutes(0) == 0 and reading_minutes(50) == 1 and reading_minutes(1150) == 5


EVAL_PAGES = EVAL_ROOT / "fundus" / "html"
XHTML = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
)


@pytest.mark.parametrize(
    "html",
    [
        page(),
        XHTML + page(),
        "<!doctype html>\n" + page(head='<meta charset="iso-8859-1">'),
        page(body=["Bell\x07 and form\x0cfeed", "nonchar \ufffe here"]),  # stripped by load_html
        '<html lang="en"/>\n<body><p>Self-closing html tag.</p></body>',
        "<p>Only a fragment.</p>",
        "plain text, no markup at all",
        "<html><body><p>Ünïcödé — “quotes” 中文 😀</p></body></html>",
    ],
)
def test_parse_html_builds_the_tree_load_html_builds(html: str) -> None:
    expected, got = load_html(html), parse_html(html)
    assert (got is None) == (expected is None)
    if expected is not None:
        assert etree.tostring(got) == etree.tostring(expected)


def test_parse_html_on_real_pages() -> None:
    files = sorted(EVAL_PAGES.glob("*.html.gz"))[:20]
    if not files:
        pytest.skip("shared eval pages not available")
    for path in files:
        html = decode_file(gzip.decompress(path.read_bytes()))
        assert etree.tostring(parse_html(html)) == etree.tostring(load_html(html)), path.name


def test_full_mode_runs_only_where_it_may_change_the_text() -> None:
    text = "\n".join(PARAGRAPHS)
    whole = parse_html(page())
    assert whole is not None
    assert not needs_full(text, whole)  # long paragraphs, all of the page's: fast mode stands
    assert needs_full(PARAGRAPHS[0][:200], whole)  # under trafilatura's minimum size
    longer = parse_html(page(body=PARAGRAPHS * 3))
    assert longer is not None
    assert needs_full(" ".join(PARAGRAPHS[:2]), longer)  # the page's paragraphs hold 3x more
    assert not needs_full(" ".join(PARAGRAPHS[:2]), whole)
    links = "\n".join(f"Story number {i} headline" for i in range(30))
    assert needs_full(links, whole)  # short lines: a list of links, not paragraphs


def test_selective_mode_is_the_fast_text_or_the_full_text(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    real = extract_mod.trafilatura.bare_extraction

    def spy(tree: object, **kwargs: object) -> object:
        calls.append(bool(kwargs["fast"]))
        return real(tree, **kwargs)

    monkeypatch.setattr(extract_mod.trafilatura, "bare_extraction", spy)
    got = extract(page(), "https://news.example/trams")
    assert calls == [True] and "tram network" in got.text
    calls.clear()
    # a page whose paragraphs are mostly outside what trafilatura keeps: full mode decides
    teasers = "".join(f"<div class='teaser'><p>{p}</p></div>" for p in PARAGRAPHS * 3)
    short = page(body=[PARAGRAPHS[0]]).replace("</footer>", f"</footer>{teasers}")
    extract(short, "https://news.example/short")
    assert calls[0] is True and calls[-1] is False
    assert EXTRACTOR_VERSION.endswith("-selective")
