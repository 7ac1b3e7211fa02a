"""Seed intake: any bytes give candidates or a BadInput with a stable reason."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsflow.tasks.errors import BadInput
from newsflow.tasks.seeds import discover, parse_seed, parse_seed_date, read_seed_files

from .conftest import SEED

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ARTICLE = (
    "Title here\n20211216\nhttps://example.com/a\nFirst paragraph.\nComment: an aside\nSecond.\n"
)


def _reason(data: bytes) -> str:
    with pytest.raises(BadInput) as info:
        parse_seed(data, "f", now=NOW)
    return info.value.reason


def test_real_seed() -> None:
    (c,) = parse_seed(SEED.read_bytes(), str(SEED), now=NOW)
    assert c.title and c.title.startswith("Putin and Xi")
    assert c.dates[0].value == datetime(2021, 12, 16, tzinfo=UTC)
    assert c.dates[0].source == "seed"
    assert c.url.startswith("https://www.sott.net/article/462077")
    assert len(c.comments) == 3
    assert c.text is not None and "Comment:" not in c.text
    assert c.origin == "seed" and c.notes == []


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s.encode("utf-8"),
        lambda s: codecs.BOM_UTF8 + s.encode("utf-8"),
        lambda s: s.replace("\n", "\r\n").encode("utf-8"),
        lambda s: s.replace("\n", "\r").encode("utf-8"),
        lambda s: s.encode("utf-16"),
        lambda s: "\n\n  " + s.replace("\n", "  \n\t"),
    ],
    ids=["utf8", "bom", "crlf", "cr", "utf16", "whitespace"],
)
def test_encodings_and_line_endings(encode) -> None:  # type: ignore[no-untyped-def]
    data = encode(ARTICLE)
    if isinstance(data, str):
        data = data.encode()
    (c,) = parse_seed(data, "f", now=NOW)
    assert (c.title, c.url) == ("Title here", "https://example.com/a")
    assert c.text == "First paragraph.\nSecond."
    assert c.comments == ["an aside"]


def test_latin1_is_decoded_right() -> None:
    text = (
        "Über die Straße\n20211216\nhttps://example.de/a\n"
        "Die Bürger äußern Kritik an der Regierung, sagte er.\n"
    )
    (c,) = parse_seed(text.encode("latin-1"), "f", now=NOW)
    assert c.title == "Über die Straße"
    assert c.text is not None and "äußern" in c.text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_file"),
        (b"  \n\r\n\t\n", "empty_file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        (b"Title\n20210101\nnot a url\nBody.\n", "bad_url"),
        (b"Title\n20210101\nhttps://example.com/a\nComment: only a comment\n", "empty_text"),
        (b"Just one line of text", "parse_error"),
        (b"Title\n20210101\n", "parse_error"),
        (b"Title\n20210101\nftp://example.com/a\nBody\n", "bad_url"),
    ],
)
def test_rejects(data: bytes, reason: str) -> None:
    assert _reason(data) == reason


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ("20211216", True),
        ("2021-12-16", True),
        ("20211341", False),
        ("20210230", False),
        ("19000101", False),
        ("20990101", False),
        ("yesterday", False),
    ],
)
def test_dates(line: str, ok: bool) -> None:
    value, why = parse_seed_date(line, NOW)
    assert (value is not None) is ok
    assert bool(why) is not ok


def test_impossible_date_keeps_the_article_with_a_note() -> None:
    (c,) = parse_seed(ARTICLE.replace("20211216", "20211341").encode(), "f", now=NOW)
    assert c.dates == []
    assert [n.code for n in c.notes] == ["bad_date"]


def test_missing_date_line() -> None:
    (c,) = parse_seed(b"Title\nhttps://example.com/a\nBody text.\n", "f", now=NOW)
    assert c.url == "https://example.com/a" and c.dates == []
    assert [n.code for n in c.notes] == ["bad_date"]


def test_url_list() -> None:
    data = b"# my list\nhttps://example.com/a\n\nhttp://example.org/b?x=1\n"
    cands = parse_seed(data, "list.txt", now=NOW)
    assert [c.url for c in cands] == ["https://example.com/a", "http://example.org/b?x=1"]
    assert all(c.text is None and c.origin == "seed" for c in cands)


def test_discover_skips_hidden_and_config(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "feeds.toml").write_text("x")
    (tmp_path / ".hidden.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("x")
    assert [p.name for p in discover([tmp_path])] == ["a.txt", "b.txt"]


def test_read_seed_files_turns_errors_into_rejects(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text(ARTICLE)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"")
    missing = tmp_path / "missing.txt"
    cands, rejects = read_seed_files([good, bad, missing], "run", now=NOW)
    assert len(cands) == 1
    assert sorted(r.reason for r in rejects) == ["empty_file", "unreadable"]
    assert all(r.stage == "intake" and r.run_id == "run" for r in rejects)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.text(max_size=2000).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.lists(
            st.one_of(
                st.sampled_from(["20211216", "https://example.com/a", "Comment: x", "", " "]),
                st.text(max_size=80),
            ),
            max_size=8,
        ).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
    )
)
def test_any_bytes_give_candidates_or_a_reject(data: bytes) -> None:
    try:
        cands = parse_seed(data, "fuzz", now=NOW)
    except BadInput as error:
        assert error.reason in {
            "empty_file",
            "binary",
            "bad_encoding",
            "bad_url",
            "empty_text",
            "parse_error",
        }
        return
    assert cands
    for c in cands:
        assert c.url.startswith(("http://", "https://"))
        assert c.text is None or c.text.strip()
        for claim in c.dates:
            assert claim.value <= NOW
