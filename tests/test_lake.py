"""The DuckLake warehouse (warehouse/lake.py): the project's schema in a lake, a reader process
that is never blocked by the writer and sees each commit, the analysts' ATTACH line, and (slow)
two writer processes and a reader on a real PostgreSQL catalog."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Queue
from typing import Any

import duckdb
import pytest

for package in ("duckdb_extension_ducklake", "duckdb_extension_sqlite_scanner"):
    pytest.importorskip(package, reason=f"{package} (pinned DuckDB extension) not installed")

from newsflow.warehouse import lake as lakemod  # noqa: E402
from newsflow.warehouse import lake_maintenance, lake_upgrade  # noqa: E402
from newsflow.warehouse.db import migrate  # noqa: E402
from newsflow.warehouse.lake import Lake  # noqa: E402

ROWS = 250
WAIT = 180  # seconds: generous, the machine is shared; a blocked reader never answers


def insert_articles(con: duckdb.DuckDBPyConnection, prefix: str, start: int, count: int) -> None:
    con.execute(
        "INSERT INTO articles (article_id, url, canonical_url, domain, published_at, text, "
        "word_count, content_hash, origin, ingested_at) "
        "SELECT ? || i, 'https://a.example/' || ? || i, 'https://a.example/' || ? || i, "
        "'a.example', now() - INTERVAL (i) MINUTE, 'Text of article ' || i, 4, md5(? || i), "
        "'feed', now() FROM range(?, ?) r(i)",
        [prefix, prefix, prefix, prefix, start, start + count],
    )


def _reader(lake: Lake, asks: Queue[str], answers: Queue[tuple[str, Any]]) -> None:
    """One session held open for the whole test; answers each question from it."""
    con = lakemod.connect(lake, read_only=True)
    answers.put(("ready", con.execute("SELECT count(*) FROM articles").fetchone()[0]))  # type: ignore[index]
    while (ask := asks.get()) != "stop":
        if ask == "count":
            row = con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles")
            answers.put(("count", row.fetchone()))
        elif ask == "prefixes":
            rows = con.execute(
                "SELECT left(article_id, 1) AS p, count(*) FROM articles GROUP BY p ORDER BY p"
            ).fetchall()
            answers.put(("prefixes", rows))
    con.close()


@contextmanager
def reader_session(
    lake: Lake,
) -> Iterator[tuple[Queue[str], Queue[tuple[str, Any]], mp.process.BaseProcess]]:
    """A reader process holding one session open on the lake (``_reader``): its questions,
    its answers, and the process (stopped at the end)."""
    ctx = mp.get_context("spawn")
    asks: Queue[str] = ctx.Queue()  # type: ignore[assignment]
    answers: Queue[tuple[str, Any]] = ctx.Queue()  # type: ignore[assignment]
    reader = ctx.Process(target=_reader, args=(lake, asks, answers))
    reader.start()
    try:
        yield asks, answers, reader
    finally:
        asks.put("stop")
        reader.join(timeout=WAIT)
        if reader.is_alive():
            reader.kill()


def test_schema_matches_the_single_file_warehouse(tmp_path: Path) -> None:
    con = lakemod.open_warehouse(Lake.local(tmp_path / "lake"))
    single = duckdb.connect()
    migrate(single)
    for table in ("articles", "article_sightings", "rejects", "runs", "search_blocks"):
        want = single.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()
        got = con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE news.{table})"
        ).fetchall()
        assert got == want, table
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    assert {"daily_counts", "articles_unique", "article_clusters"} <= views
    assert con.execute("SELECT count(*) FROM search_stopwords").fetchone()[0] > 100  # type: ignore[index]
    # opening again creates nothing twice
    con.close()
    again = lakemod.connect(Lake.local(tmp_path / "lake"))
    assert lakemod.create_schema(again) == []


def test_reader_process_is_never_blocked_and_sees_each_commit(tmp_path: Path) -> None:
    lake = Lake.local(tmp_path / "lake")
    writer = lakemod.open_warehouse(lake)
    with reader_session(lake) as (asks, answers, reader):
        assert answers.get(timeout=WAIT) == ("ready", 0)
        for k in range(1, 4):
            writer.execute("BEGIN")
            insert_articles(writer, "a", (k - 1) * ROWS, ROWS)
            # mid-transaction: the reader answers at once and sees only committed rows
            asks.put("count")
            assert answers.get(timeout=WAIT) == ("count", ((k - 1) * ROWS, (k - 1) * ROWS))
            writer.execute("COMMIT")
            asks.put("count")
            assert answers.get(timeout=WAIT) == ("count", (k * ROWS, k * ROWS))
        # maintenance runs beside the open reader too
        assert lake_maintenance.maintain(writer, keep_days=0) == [
            "fold_units",
            "merge_search_segments",
            *(name for name, _ in lake_maintenance.MAINTENANCE),
        ]
        asks.put("count")
        assert answers.get(timeout=WAIT) == ("count", (3 * ROWS, 3 * ROWS))
    assert reader.exitcode == 0


def test_the_analysts_attach_line(tmp_path: Path) -> None:
    lake = Lake.local(tmp_path / "lake")
    writer = lakemod.open_warehouse(lake)
    insert_articles(writer, "a", 0, 10)
    insert_articles(writer, "a", 10, 5)
    writer.close()
    line = lake.attach_sql(read_only=True)
    assert line == (
        f"ATTACH 'ducklake:sqlite:{tmp_path}/lake/catalog.sqlite' AS news "
        f"(DATA_PATH '{tmp_path}/lake/data/', READ_ONLY)"
    )
    # an analyst's own DuckDB: the extensions (INSTALL ducklake; INSTALL sqlite; or the pip
    # packages) and then exactly that line
    analyst = duckdb.connect(config={"autoinstall_known_extensions": False})
    lakemod.load_extensions(analyst, "ducklake", "sqlite_scanner")
    analyst.execute(line)
    assert analyst.execute("SELECT count(*) FROM news.articles").fetchone() == (15,)
    assert analyst.execute("SELECT sum(articles) FROM news.daily_counts").fetchone() == (15,)
    # time travel: what the warehouse held before the last load
    versions = analyst.execute("SELECT snapshot_id FROM news.snapshots() ORDER BY 1").fetchall()
    before = versions[-2][0]
    assert analyst.execute(
        f"SELECT count(*) FROM news.articles AT (VERSION => {before})"
    ).fetchone() == (10,)
    with pytest.raises(duckdb.Error):
        analyst.execute("DELETE FROM news.articles")


README = Path(__file__).resolve().parent.parent / "README.md"
README_ROOT = "/srv/newsflow/warehouse/"


def test_the_analysts_attach_line_of_the_readme_opens_a_loaded_lake(tmp_path: Path) -> None:
    """The README's line, for a warehouse the loader wrote (NEWSFLOW_DB=...news.ducklake), is
    what `newsflow published` prints and opens it in a fresh DuckDB, search included."""
    from newsflow.settings import Settings
    from newsflow.warehouse import storage
    from newsflow.warehouse.loader import load_spool
    from tests.helpers import make_seed_files, spool_seed_files

    settings = Settings(
        db=tmp_path / "news.ducklake",
        spool=str(tmp_path / "spool"),
        _env_file=None,  # type: ignore[call-arg]
    )
    spool_seed_files(make_seed_files(tmp_path / "s", 12), settings, batch_size=6)
    load_spool(settings.db, settings.spool, lock_wait=30)
    (documented,) = [
        line.removesuffix(";")
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("ATTACH 'ducklake:sqlite:")
    ]
    line = documented.replace(README_ROOT, f"{tmp_path}/")
    assert line == storage.attach_line(settings.db)
    analyst = duckdb.connect(config={"autoinstall_known_extensions": False})
    lakemod.load_extensions(analyst, "ducklake", "sqlite_scanner")  # = INSTALL, once
    analyst.execute(line)
    analyst.execute("USE news")
    assert analyst.execute("SELECT count(*) FROM articles").fetchone() == (12,)
    assert analyst.execute("SELECT sum(articles) FROM daily_counts").fetchone() == (12,)
    between = "SELECT * FROM daily_counts_between(DATE '1970-01-01', DATE '2100-12-31')"
    assert (
        analyst.execute(f"{between} ORDER BY ALL").fetchall()
        == analyst.execute("SELECT * FROM daily_counts ORDER BY ALL").fetchall()
    )
    hits = analyst.execute("SELECT count(*) FROM search_articles('court OR budget')").fetchone()
    assert hits is not None and hits[0] > 0
    with pytest.raises(duckdb.Error):
        analyst.execute("DELETE FROM articles")


@pytest.mark.slow
def test_migrating_a_warehouse_built_by_todays_loader_loses_nothing(tmp_path: Path) -> None:
    from tests.analyst_fixture import build

    fixture = build(tmp_path / "old", publish=False)
    con = lakemod.open_warehouse(Lake.local(tmp_path / "lake"))
    migrated = lake_upgrade.migrate_from_file(con, fixture.db)
    old = duckdb.connect(str(fixture.db), read_only=True)
    for table in (
        "articles",
        "article_sightings",
        "article_versions",
        "rejects",
        "runs",
        "feeds",
        "search_blocks",
        "spool_batches",
    ):
        want = old.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        got = con.execute(f"SELECT * FROM news.{table} ORDER BY ALL").fetchall()
        assert got == want, table
        assert migrated.rows[table] == len(want)
    assert migrated.rows["articles"] > 5
    # the analysts' views give the same answers
    for view in ("daily_counts", "article_clusters"):
        assert (
            con.execute(f"SELECT * FROM news.{view} ORDER BY ALL").fetchall()
            == old.execute(f"SELECT * FROM {view} ORDER BY ALL").fetchall()
        ), view
    # a second migration into the same lake is refused, not doubled
    with pytest.raises(lakemod.LakeError, match="already holds articles"):
        lake_upgrade.migrate_from_file(con, fixture.db)


def test_a_bad_catalog_says_what_to_use() -> None:
    with pytest.raises(lakemod.LakeError, match=r"sqlite:/path/catalog\.sqlite"):
        Lake("mysql:whatever", "/tmp/data/")


# ---------------------------------------------------------------- PostgreSQL catalog


def _pg_writer(lake: Lake, prefix: str, batches: int) -> None:
    con = lakemod.connect(lake)
    for k in range(batches):
        insert_articles(con, prefix, k * ROWS, ROWS)
    con.close()


@pytest.mark.slow
def test_two_writers_and_a_reader_on_a_postgres_catalog(postgres: str, tmp_path: Path) -> None:
    lake = Lake(f"postgres:{postgres}", f"{tmp_path / 'shared-data'}/")
    lakemod.open_warehouse(lake).close()
    ctx = mp.get_context("spawn")
    asks: Queue[str] = ctx.Queue()  # type: ignore[assignment]
    answers: Queue[tuple[str, Any]] = ctx.Queue()  # type: ignore[assignment]
    reader = ctx.Process(target=_reader, args=(lake, asks, answers))
    reader.start()
    assert answers.get(timeout=WAIT) == ("ready", 0)
    writers = [ctx.Process(target=_pg_writer, args=(lake, p, 4)) for p in ("a", "b")]
    started = time.monotonic()
    for w in writers:
        w.start()
    try:
        for w in writers:
            w.join(timeout=WAIT)
            assert w.exitcode == 0, f"writer failed after {time.monotonic() - started:.0f}s"
        asks.put("count")
        assert answers.get(timeout=WAIT) == ("count", (8 * ROWS, 8 * ROWS))
        asks.put("prefixes")
        assert answers.get(timeout=WAIT) == ("prefixes", [("a", 4 * ROWS), ("b", 4 * ROWS)])
    finally:
        asks.put("stop")
        reader.join(timeout=WAIT)
        for p in (reader, *writers):
            if p.is_alive():
                p.kill()


def test_the_writer_checks_the_schema_once_per_schema_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process opening the writer again skips the schema check while the lake's schema
    version is the one it checked; a schema change by anyone (a table dropped) is seen and
    repaired; a lake made again at the same path is another lake. The catalog is in WAL mode,
    as its header says."""
    checks: list[str] = []
    real = lakemod.create_schema

    def counted(con: duckdb.DuckDBPyConnection, **kwargs: Any) -> list[str]:
        checks.append("check")
        return real(con, **kwargs)

    monkeypatch.setattr(lakemod, "create_schema", counted)
    lake = Lake.local(tmp_path / "lake")
    lakemod.open_warehouse(lake).close()
    con = lakemod.open_warehouse(lake)
    insert_articles(con, "a", 0, 3)  # rows: no schema change
    con.close()
    lakemod.open_warehouse(lake).close()
    assert len(checks) == 1
    other = lakemod.connect(lake)
    other.execute("DROP TABLE article_notes")
    other.close()
    con = lakemod.open_warehouse(lake)
    assert len(checks) == 2
    assert "article_notes" in lakemod.tables(con, lakemod.ALIAS)
    con.close()
    lakemod.open_warehouse(lake).close()
    assert len(checks) == 2
    catalog = lake.catalog_file
    assert catalog is not None and catalog.read_bytes()[18:20] == b"\x02\x02"  # WAL
    import shutil

    shutil.rmtree(tmp_path / "lake")
    lakemod.open_warehouse(lake).close()
    assert len(checks) == 3
