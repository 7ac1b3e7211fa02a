"""The representatives' texts on a lake are read by their day (warehouse/stories.py): the key
index holds each article's ``published_at``, so the read skips other days' files; an article
whose date changed, or that the index does not date, is still found and compared."""

from __future__ import annotations

import logging
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import duckdb
import pytest

for package in ("duckdb_extension_ducklake", "duckdb_extension_sqlite_scanner"):
    pytest.importorskip(package, reason=f"{package} (pinned DuckDB extension) not installed")

from newsflow.settings import Settings  # noqa: E402
from newsflow.tasks.process import process_candidates  # noqa: E402
from newsflow.tasks.records import Candidate, DateClaim  # noqa: E402
from newsflow.tasks.spool import write_batch  # noqa: E402
from newsflow.warehouse import keys as keymod  # noqa: E402
from newsflow.warehouse import lake as lakemod  # noqa: E402
from newsflow.warehouse import storage, stories  # noqa: E402
from newsflow.warehouse.db import connect_reader  # noqa: E402
from newsflow.warehouse.loader import load_spool  # noqa: E402

from .test_extract import PARAGRAPHS  # noqa: E402

T0 = datetime(2025, 3, 1, tzinfo=UTC)
DAY1, DAY9 = datetime(2025, 2, 1, 8, tzinfo=UTC), datetime(2025, 2, 9, 8, tzinfo=UTC)
STORY = "\n".join(PARAGRAPHS)
CORRECTED = STORY.replace("more than a decade", "nearly twenty years")
OTHER = "Rain is expected on Friday across the region.\nThe market opens at nine on Saturday."
ROWS = {
    "articles": "SELECT article_id, content_hash, published_at, duplicate_of, cluster_id "
    "FROM articles",
    "duplicate_links": "SELECT article_id, representative, method FROM duplicate_links",
    "text_units": "SELECT unit_hash, domain, stories, first_article FROM text_unit_stories",
}


def _settings(folder: Path, name: str) -> Settings:
    return Settings(
        db=folder / name,
        spool=str(folder / "spool"),
        lock_wait=30,
        _env_file=None,  # type: ignore[call-arg]
    )


def _candidate(url: str, text: str, published: datetime | None) -> Candidate:
    dates = [DateClaim("published", published, "seed")] if published else []
    return Candidate("url", url, url, title="t", text=text, dates=dates)


def _load(settings: Settings, candidates: list[Candidate], hours: int) -> None:
    batch = process_candidates(candidates, "test", now=T0 + timedelta(hours=hours))
    write_batch(batch, settings.spool)
    load_spool(settings.db, settings.spool, lock_wait=30)


def _rows(db: Path) -> dict[str, list[Any]]:
    con = connect_reader(db)
    try:
        return {t: sorted(con.execute(q).fetchall(), key=repr) for t, q in ROWS.items()}
    finally:
        con.close()


def _id(db: Path, url: str) -> str:
    con = connect_reader(db)
    try:
        row = con.execute("SELECT article_id FROM articles WHERE url = ?", [url]).fetchone()
    finally:
        con.close()
    assert row is not None
    return str(row[0])


class _Dates:
    """Records what the key index answered for the representatives' dates."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[dict[str, datetime | None]] = []
        real = keymod.KeyIndex.published

        def published(index: keymod.KeyIndex, ids: Any) -> dict[str, datetime | None]:
            found = real(index, ids)
            self.seen.append(found)
            return found

        monkeypatch.setattr(keymod.KeyIndex, "published", published)


def test_a_representative_whose_date_a_revision_changed_is_still_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The story is revised with a new date; a copy in the revising batch (the index does not
    know the new date yet: the id alone) and copies in later loads (the index follows the
    revision: read by the new day) join it. The same rows as on the single file."""
    dates = _Dates(monkeypatch)
    loads = [
        [
            _candidate("https://a.example/story", STORY, DAY1),
            _candidate("https://o.example/other", OTHER, None),
        ],
        [
            _candidate("https://a.example/story", CORRECTED, DAY9),  # revised, new date
            _candidate("https://d.example/copy", CORRECTED + "\nShare this story.", None),
        ],
        [_candidate("https://e.example/edited", CORRECTED.replace("Tuesday", "Monday"), DAY9)],
        [_candidate("https://f.example/later", CORRECTED + "\nAdvertisement", DAY1)],
    ]
    got = {}
    for name in ("news.duckdb", "news.ducklake"):
        settings = _settings(tmp_path / name.split(".")[1], name)
        for hours, candidates in enumerate(loads):
            _load(settings, candidates, hours)
        got[name] = _rows(settings.db)
    assert got["news.ducklake"] == got["news.duckdb"]
    db = tmp_path / "ducklake" / "news.ducklake"
    story = _id(db, "https://a.example/story")
    links = {r[0]: r[1] for r in got["news.ducklake"]["duplicate_links"]}
    for url in ("https://d.example/copy", "https://e.example/edited", "https://f.example/later"):
        assert links[_id(db, url)] == story, url
    answers = [d[story] for d in dates.seen if story in d]
    assert answers and set(answers) == {DAY9}  # dated by the revision, never by the old day
    assert dates.seen and story not in dates.seen[0]  # the revising batch: by id alone


def test_a_representative_the_index_misdates_or_lacks_is_read_by_id(tmp_path: Path) -> None:
    """Whatever the index says of a representative's date, its text is found: a wrong date
    (as if the index were behind) and a missing row are both asked by id alone."""
    settings = _settings(tmp_path, "news.ducklake")
    _load(settings, [_candidate("https://a.example/story", STORY, DAY1)], 0)
    story = _id(settings.db, "https://a.example/story")
    con = lakemod.connect(storage.locate(settings.db).lake())
    index = keymod.for_lake(con)
    try:
        con.execute("BEGIN")
        assert index.catch_up(con)
        assert index.published([story, "no-such-id"]) == {story: DAY1}
        index.release()
        with closing(sqlite3.connect(index.path)) as db:  # the index says another day
            db.execute("UPDATE articles SET published_at = 0 WHERE article_id = ?", [story])
            db.commit()
        assert index.catch_up(con)
        assert index.published([story]) == {story: datetime(1970, 1, 1, tzinfo=UTC)}
        rows = stories._texts(con, [story], index)
        assert [(r[0], r[3]) for r in rows] == [(story, STORY)]
        index.release()
        with closing(sqlite3.connect(index.path)) as db:  # ... or does not hold it
            db.execute("DELETE FROM articles WHERE article_id = ?", [story])
            db.commit()
        assert index.catch_up(con)
        assert index.published([story]) == {}
        assert [r[0] for r in stories._texts(con, [story], index)] == [story]
        con.execute("ROLLBACK")
    finally:
        index.close()
        con.close()


def test_the_read_by_day_reads_only_those_days_files(tmp_path: Path) -> None:
    """Articles on three days and undated ones, several a day: reading one day's article
    opens that day's file only (by id alone, other days' files whose id ranges hold it are
    read too); the undated are found as well."""
    settings = _settings(tmp_path, "news.ducklake")
    days = [DAY1, DAY1 + timedelta(days=3), DAY9, None]
    texts = [f"Item {i}. {PARAGRAPHS[i % 4]}\n{OTHER}" for i in range(24)]
    _load(settings, [_candidate("https://o.example/other", OTHER, None)], 0)
    con = lakemod.connect(storage.locate(settings.db).lake())
    try:  # a small load's rows would be inlined in the catalog: here written to files
        con.execute(f"CALL {lakemod.ALIAS}.set_option('data_inlining_row_limit', 0)")
    finally:
        con.close()
    _load(
        settings,
        [_candidate(f"https://a.example/{i}", t, days[i % 4]) for i, t in enumerate(texts)],
        1,
    )
    ids = [_id(settings.db, f"https://a.example/{i}") for i in range(4)]
    con = lakemod.connect(storage.locate(settings.db).lake())
    index = keymod.for_lake(con)
    try:
        con.execute("BEGIN")
        assert index.catch_up(con)
        found = {r[0]: r[3] for r in stories._texts(con, [ids[2], ids[3]], index)}
        assert found == {ids[2]: texts[2], ids[3]: texts[3]}
        files = con.execute(
            f"SELECT count(*) FROM ducklake_list_files('{lakemod.ALIAS}', 'articles')"
        ).fetchone()
        # the statements the read runs, by id alone (the single file's) and by day
        read = [_files_read(con, [ids[2]], keys) for keys in (None, index)]
        con.execute("ROLLBACK")
    finally:
        index.close()
        con.close()
    assert files is not None and files[0] >= 4
    assert read[1] == 1 < read[0], read


def _files_read(con: duckdb.DuckDBPyConnection, ids: list[str], keys: Any) -> int:
    """Data files the statements of ``stories._texts`` read (their EXPLAIN ANALYZE)."""
    statements: list[tuple[str, Any]] = []

    class Spy:
        def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
            statements.append((sql, params))
            return con.execute(sql, params)

    assert [r[0] for r in stories._texts(cast(Any, Spy()), ids, keys)] == ids
    total = 0
    for sql, params in statements:
        plan = con.execute(f"EXPLAIN ANALYZE {sql}", params).fetchall()
        total += sum(map(int, re.findall(r"Total Files Read:\s*(\d+)", str(plan[0][1]))))
    return total


def test_an_index_of_the_older_layout_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A key index written before it held dates (no ``published_at`` column) is rebuilt on
    the next load, and then holds every article's date."""
    settings = _settings(tmp_path, "news.ducklake")
    _load(settings, [_candidate("https://a.example/story", STORY, DAY1)], 0)
    path = storage.keys_path(storage.locate(settings.db).catalog)
    with closing(sqlite3.connect(path)) as db:  # as the previous layout wrote it
        db.executescript(
            "DROP TABLE articles; CREATE TABLE articles (article_id TEXT PRIMARY KEY, "
            "content_hash TEXT, ingested_at INTEGER, cluster_id TEXT, root INTEGER) "
            "WITHOUT ROWID; UPDATE meta SET value = '1' WHERE key = 'version';"
        )
    with caplog.at_level(logging.INFO, logger="newsflow.warehouse.keys"):
        _load(settings, [_candidate("https://b.example/other", "\n".join(PARAGRAPHS[2:]), DAY9)], 1)
    assert any("older layout" in r.message for r in caplog.records)
    with closing(sqlite3.connect(path)) as db:  # rebuilt as of that load's snapshot
        held = sorted(db.execute("SELECT published_at FROM articles").fetchall())
    assert [keymod._at(r[0]) for r in held] == [DAY1]
    con = lakemod.connect(storage.locate(settings.db).lake())
    index = keymod.for_lake(con)
    try:  # the next catch-up adds the second load's article, with its date
        con.execute("BEGIN")
        assert index.catch_up(con)
        assert index.published([_id(settings.db, "https://b.example/other")]) == {
            _id(settings.db, "https://b.example/other"): DAY9
        }
        con.execute("ROLLBACK")
    finally:
        index.close()
        con.close()
