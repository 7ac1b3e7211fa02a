"""The pure stages: normalization, identity, enrichment, in-batch dedup, row building."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsflow.tasks.articles import build_rows, pick_date
from newsflow.tasks.enrich import detect_language, registered_domain
from newsflow.tasks.errors import BadInput
from newsflow.tasks.exact_duplicates import dedupe_batch
from newsflow.tasks.normalize import (
    article_id,
    canonical_url,
    content_hash,
    is_http_url,
    normalize_text,
    word_count,
)
from newsflow.tasks.process import process_candidates
from newsflow.tasks.records import Candidate, DateClaim

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "HTTPS://WWW.Example.COM:443/a/b?utm_source=x&id=3#top",
            "https://www.example.com/a/b?id=3",
        ),
        ("http://example.com:80", "http://example.com/"),
        ("https://example.com/p?fbclid=1&gclid=2", "https://example.com/p"),
        ("https://example.com/p?b=2&a=1", "https://example.com/p?a=1&b=2"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_article_id_is_stable_and_canonical() -> None:
    # A fixed value: the id must be the same on every machine and in every version.
    assert article_id("https://example.com/a") == "f24a9deb5f47e5a4"
    a = article_id(canonical_url("https://example.com/a?utm_medium=rss"))
    assert a == article_id(canonical_url("HTTPS://EXAMPLE.com/a#x"))


def test_normalize_text() -> None:
    raw = "  Caf\u0065\u0301  au\u200b lait \r\n\r\n\tsecond\u00a0 line  "
    assert normalize_text(raw) == "Café au lait\nsecond line"


def test_content_hash_ignores_case_punctuation_and_spacing() -> None:
    assert content_hash("Hello, World!\nBye.") == content_hash("hello world  bye")
    assert content_hash("Hello world") != content_hash("Hello there world")


def test_word_count_and_urls() -> None:
    assert word_count("It's 3 o'clock, über-cool.") == 7
    assert is_http_url("https://x.org/a")
    assert not is_http_url("https:///nohost")
    assert not is_http_url("https://x.org/a b")
    assert not is_http_url("mailto:a@b.c")


def test_language_and_domain() -> None:
    assert (
        detect_language("The quick brown fox jumps over the lazy dog near the river bank.")[0]
        == "en"
    )
    assert (
        detect_language("Der schnelle braune Fuchs springt über den faulen Hund am Fluss.")[0]
        == "de"
    )
    assert detect_language("ok") == (None, None)
    assert registered_domain("https://news.bbc.co.uk/x") == "bbc.co.uk"
    assert registered_domain("https://www.sott.net/article/1") == "sott.net"
    assert registered_domain("http://127.0.0.1:8080/a") == "127.0.0.1"


def test_pick_date_prefers_the_seed() -> None:
    claims = [
        DateClaim("published", datetime(2020, 1, 2, tzinfo=UTC), "htmldate"),
        DateClaim("published", datetime(2020, 1, 1, tzinfo=UTC), "seed"),
        DateClaim("modified", datetime(2020, 1, 3, tzinfo=UTC), "meta"),
    ]
    picked = pick_date(claims)
    assert picked is not None and picked.source == "seed"
    assert pick_date([]) is None


def _cand(url: str, text: str) -> Candidate:
    return Candidate(origin="seed", source=url, url=url, title="T", text=text, seen_at=NOW)


def test_build_rows() -> None:
    c = _cand("https://www.example.com/a?utm_source=x", "Some  text here.\n\nMore text.")
    c.comments = ["an aside"]
    batch = build_rows(c, "run", NOW)
    (row,) = batch.articles
    assert row.canonical_url == "https://www.example.com/a"
    assert row.domain == "example.com"
    assert row.text == "Some text here.\nMore text."
    assert row.word_count == 5
    assert [(x.position, x.text) for x in batch.comments] == [(1, "an aside")]
    assert batch.sightings[0].url_seen == "https://www.example.com/a?utm_source=x"
    with pytest.raises(BadInput):
        build_rows(_cand("https://x.org/", " ... "), "run", NOW)


def test_in_batch_dedup() -> None:
    batch = process_candidates(
        [
            _cand("https://a.org/1", "Same words in this text."),
            _cand("https://a.org/1?utm_source=feed", "Same words in this text."),
            _cand("https://b.org/2", "same words, in this text!"),
            _cand("https://c.org/3", "Different words entirely here."),
            _cand("https://d.org/4", "!!!"),
        ],
        "run",
        now=NOW,
    )
    ids = [a.article_id for a in batch.articles]
    assert len(ids) == 3
    dup = {a.canonical_url: a.duplicate_of for a in batch.articles}
    assert dup["https://b.org/2"] == ids[0]
    assert dup["https://a.org/1"] is None and dup["https://c.org/3"] is None
    assert len(batch.sightings) == 4  # both ways of reaching a.org/1 are kept
    assert [r.reason for r in batch.rejects] == ["empty_text"]
    assert dedupe_batch(batch).articles == batch.articles
