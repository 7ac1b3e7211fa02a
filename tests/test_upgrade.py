"""``newsflow upgrade``: a single-file warehouse built by today's loader becomes a DuckLake with
every row of every table (compared row by row), the old file untouched; a second upgrade into
the same lake, a missing, foreign or busy source are refused in one line (exit 2); a copy
killed half-way leaves no rows in the lake and a rerun completes it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

for package in ("duckdb_extension_ducklake", "duckdb_extension_sqlite_scanner"):
    pytest.importorskip(package, reason=f"{package} (pinned DuckDB extension) not installed")

from newsflow.tasks import seedledger  # noqa: E402
from newsflow.tasks.process import process_candidates  # noqa: E402
from newsflow.tasks.records import Candidate  # noqa: E402
from newsflow.tasks.spool import write_batch  # noqa: E402
from newsflow.warehouse import lake as lakemod  # noqa: E402
from newsflow.warehouse import storage  # noqa: E402
from newsflow.warehouse.lake import Lake  # noqa: E402
from newsflow.warehouse.loader import RunRow, load_spool  # noqa: E402
from tests.analyst_fixture import build  # noqa: E402
from tests.fetch_server import article_html, sample_paragraphs  # noqa: E402
from tests.helpers import make_seed_files  # noqa: E402
from tests.test_hostile import assert_operator_error, newsflow  # noqa: E402

# the single file's own bookkeeping, which the lake does not need
BOOKKEEPING = {"schema_migrations", "schema_views"}


@pytest.fixture(scope="module")
def old_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The analysts' fixture (three runs through the spool and the loader), then a fourth run
    of seed files with their ledger and fetched pages (raw_pages), as ingest-seeds spools them."""
    root = tmp_path_factory.mktemp("old")
    fixture = build(root, publish=False)
    run_id = "fixture-run-4"
    at = datetime(2024, 3, 5, 18, 0, tzinfo=UTC)
    seeds = make_seed_files(root / "seeds", 12)
    candidates, rejects, ledger = seedledger.read_with_ledger(seeds, run_id, now=at)
    pages = [
        Candidate(
            origin="url",
            source=f"https://pages.example.org/{topic}",
            url=f"https://pages.example.org/{topic}",
            html=article_html(f"News from {topic}", sample_paragraphs(topic, 6)),
            fetched_at=at,
            seen_at=at,
        )
        for topic in ("Harbourtown", "Millbridge", "Eastfield")
    ]
    batch = process_candidates([*candidates, *pages], run_id, now=at)
    batch.rejects.extend(rejects)
    write_batch(batch, fixture.spool, extra={seedledger.TABLE: ledger})
    load_spool(
        fixture.db,
        fixture.spool,
        lock_wait=30,
        run=RunRow(run_id, "ingest-seeds", at - timedelta(minutes=5), at, "completed", 15),
    )
    with duckdb.connect(str(fixture.db), read_only=True) as con:
        for table in ("raw_pages", "seed_files", "spool_batches", "search_blocks", "article_bands"):
            assert _rows(con, table), f"the fixture warehouse has no {table} rows"
    return fixture.db


def _rows(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[object, ...]]:
    return con.execute(f"SELECT * FROM {relation} ORDER BY ALL").fetchall()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    return set(lakemod.tables(con, database)) - BOOKKEEPING


def assert_same_rows(old: Path, lake: Lake) -> dict[str, int]:
    """Every table of the old file has exactly its rows in the lake; rows per table."""
    con = lakemod.connect(lake, read_only=True)
    con.execute(f"ATTACH '{old}' AS old (READ_ONLY)")
    try:
        tables = _tables(con, "old")
        assert tables <= _tables(con, "news")
        counted = {}
        for table in sorted(tables):
            want = _rows(con, f"old.{table}")
            got = _rows(con, f"news.{table}")
            assert got == want, table
            counted[table] = len(got)
        for view in ("daily_counts", "article_clusters", "articles_unique", "feed_health"):
            assert _rows(con, f"news.{view}") == _rows(con, f"old.{view}"), view
        return counted
    finally:
        con.close()


def test_lake_targets_are_read_one_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Lake.from_target`` reads --to/--db/NEWSFLOW_DB through ``storage.locate``, the one
    reader of how a warehouse is named: both give the same lake for every form."""
    monkeypatch.chdir(tmp_path)
    local = Lake.from_target(Path("lakes/news.ducklake"))
    assert local.catalog == f"sqlite:{tmp_path}/lakes/news.ducklake"
    assert local.data_path == f"{tmp_path}/lakes/news.ducklake.files/"
    assert local.target == f"{tmp_path}/lakes/news.ducklake"
    assert Lake.from_target(local.target) == local
    assert storage.locate("lakes/news.ducklake").lake() == local
    moved = Lake.from_target("news.ducklake", "data")
    assert moved.data_path == f"{tmp_path}/data/"
    assert storage.locate("news.ducklake", "data").lake() == moved
    # named by its path alone: once made, a lake's data path is the one its catalog records
    assert moved.target == f"{tmp_path}/news.ducklake"
    lakemod.connect(moved).close()
    assert Lake.from_target(moved.target) == moved
    assert storage.locate(moved.target).lake() == moved
    shared = Lake.from_target("ducklake:postgres:dbname=news host=db", "s3://bucket/lake")
    assert (shared.catalog, shared.data_path) == (
        "postgres:dbname=news host=db",
        "s3://bucket/lake/",
    )
    assert shared.target == "ducklake:postgres:dbname=news host=db"
    assert storage.locate(shared.target, "s3://bucket/lake").lake() == shared
    assert storage.is_lake(shared.target) and storage.is_lake(local.target)
    assert not storage.is_lake(Path("warehouse/news.duckdb"))
    for bad, words in (
        ("ducklake:postgres:dbname=news", "NEWSFLOW_LAKE_DATA"),
        ("news.duckdb", "is not a lake"),
        ("ducklake:mysql:x", "ducklake:postgres:"),
        # DuckDB's own name for a SQLite catalog: named here by its path, as by --db
        (f"ducklake:sqlite:{tmp_path}/news.ducklake", f"by its catalog's path alone: {tmp_path}"),
        ("ducklake:sqlite:", "PATH.ducklake"),
    ):
        with pytest.raises(lakemod.LakeError, match=words):
            Lake.from_target(bad)
        assert storage.problem(bad, None) or not storage.is_lake(bad)
    (tmp_path / "dir.ducklake").mkdir()
    with pytest.raises(lakemod.LakeError, match="is a folder"):
        Lake.from_target("dir.ducklake")


def test_upgrade_copies_every_row_then_refuses_a_second_copy(
    old_warehouse: Path, tmp_path: Path
) -> None:
    before = _digest(old_warehouse)
    target = tmp_path / "news.ducklake"
    out = newsflow("upgrade", "--db", str(old_warehouse), "--to", str(target))
    assert out.returncode == 0, out.stderr
    assert _digest(old_warehouse) == before  # the old file untouched
    lake = Lake.from_target(target)
    counted = assert_same_rows(old_warehouse, lake)
    for table in ("articles", "spool_batches", "search_blocks", "raw_pages", "seed_files"):
        assert counted[table] > 0, table
        assert f"copied {table}: {counted[table]:,} rows" in out.stdout, table
    articles = counted["articles"]
    assert f"articles verified both ways: {articles:,} in both" in out.stdout
    assert f"switch: NEWSFLOW_DB={target}\n" in out.stdout
    # the printed line, typed into an analyst's own DuckDB
    line = next(x for x in out.stdout.splitlines() if "ATTACH" in x)
    attach = line[line.index("ATTACH") :]
    assert attach == lake.attach_sql(read_only=True) + ";"
    analyst = duckdb.connect(config={"autoinstall_known_extensions": False})
    lakemod.load_extensions(analyst, "ducklake", "sqlite_scanner")
    analyst.execute(attach)
    assert analyst.execute("SELECT count(*) FROM news.articles").fetchone() == (articles,)
    analyst.close()

    again = newsflow("upgrade", "--db", str(old_warehouse), "--to", str(target))
    assert_operator_error(again, "already holds articles")
    assert assert_same_rows(old_warehouse, lake) == counted  # nothing doubled
    assert _digest(old_warehouse) == before


def test_upgrade_refuses_a_missing_foreign_or_busy_source(
    old_warehouse: Path, tmp_path: Path
) -> None:
    target = str(tmp_path / "news.ducklake")
    out = newsflow("upgrade", "--db", str(tmp_path / "nope.duckdb"), "--to", target)
    assert_operator_error(out, "no warehouse file at", "nope.duckdb")
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database, only some notes\n" * 10)
    out = newsflow("upgrade", "--db", str(text), "--to", target)
    assert_operator_error(out, "not a DuckDB database")
    out = newsflow("upgrade", "--db", str(old_warehouse), "--to", str(tmp_path / "x.duckdb"))
    assert_operator_error(out, "is not a lake", ".ducklake")
    out = newsflow("upgrade", "--db", str(old_warehouse), "--to", "ducklake:postgres:dbname=x")
    assert_operator_error(out, "NEWSFLOW_LAKE_DATA")
    garbage = tmp_path / "garbage.ducklake"
    garbage.write_text("not a catalog\n" * 20)
    out = newsflow("upgrade", "--db", str(old_warehouse), "--to", str(garbage))
    assert_operator_error(out, "cannot be a lake's SQLite catalog")
    # a running load holds the file as a writer
    busy = tmp_path / "busy.duckdb"
    busy.write_bytes(old_warehouse.read_bytes())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('holding', flush=True);"
            " sys.stdin.read()",
            str(busy),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        out = newsflow("upgrade", "--db", str(busy), "--to", target)
        assert_operator_error(out, "held by a running load", "wait for it to end")
    finally:
        holder.communicate(timeout=60)
    # nothing was copied by the refused runs
    lake = Lake.from_target(target)
    if Path(target).exists():
        con = lakemod.connect(lake, read_only=True)
        assert "articles" not in lakemod.tables(con, "news")
        con.close()


KILL_AFTER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from newsflow.warehouse import lake as lakemod
    from newsflow.warehouse import lake_upgrade

    def progress(table, rows):
        if table == sys.argv[3]:  # the copy is under way: killed, no cleanup, no rollback
            os._exit(9)

    con = lakemod.connect(lakemod.Lake.from_target(sys.argv[2]))
    lake_upgrade.migrate_from_file(con, Path(sys.argv[1]), progress=progress)
    """
)


def test_a_copy_killed_half_way_leaves_no_rows_and_a_rerun_completes(
    old_warehouse: Path, tmp_path: Path
) -> None:
    target = tmp_path / "news.ducklake"
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER, str(old_warehouse), str(target), "search_blocks"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 9, killed.stderr
    lake = Lake.from_target(target)
    written = list(Path(lake.data_path).glob("**/*.parquet"))
    assert written  # the stopped copy had written files ...
    con = lakemod.connect(lake, read_only=True)
    assert lakemod.tables(con, "news") == []  # ... but committed nothing: no table, no row
    con.close()

    out = newsflow("upgrade", "--db", str(old_warehouse), "--to", str(target))
    assert out.returncode == 0, out.stderr
    assert f"removed {len(written)} files an earlier, stopped copy had left" in out.stdout
    assert not any(path.exists() for path in written)
    assert assert_same_rows(old_warehouse, lake)["articles"] > 0


@pytest.mark.slow
def test_upgrade_into_a_postgres_catalog_then_maintain_it(
    old_warehouse: Path, postgres: str, tmp_path: Path
) -> None:
    """The many-machines recipe (deploy/README.md) on a real PostgreSQL server: the upgrade
    into a PostgreSQL catalog with a shared data path, `newsflow maintain` with the settings a
    machine sets, and the analysts' printed ATTACH line."""
    target = f"ducklake:postgres:{postgres}"
    data = tmp_path / "shared-data"
    out = newsflow("upgrade", "--db", str(old_warehouse), "--to", target, "--data", str(data))
    assert out.returncode == 0, out.stderr
    lake = Lake.from_target(target, str(data))
    assert lake.data_path == f"{data}/"
    assert f"switch: NEWSFLOW_DB='{target}' NEWSFLOW_LAKE_DATA={data}/\n" in out.stdout
    counted = assert_same_rows(old_warehouse, lake)
    settings = {"NEWSFLOW_DB": target, "NEWSFLOW_LAKE_DATA": str(data)}
    done = newsflow("maintain", "--keep-days", "0", env=settings)
    assert done.returncode == 0, done.stderr
    assert f"lake {target}: snapshots kept 0 days" in done.stdout
    assert "expire snapshots: " in done.stdout
    assert assert_same_rows(old_warehouse, lake) == counted
    line = next(x for x in out.stdout.splitlines() if "ATTACH" in x)
    assert "INSTALL postgres" in line
    attach = line[line.index("ATTACH") :]
    analyst = duckdb.connect(config={"autoinstall_known_extensions": False})
    lakemod.load_extensions(analyst, "ducklake", "postgres_scanner")
    analyst.execute(attach)
    assert analyst.execute("SELECT count(*) FROM news.articles").fetchone() == (
        counted["articles"],
    )
    analyst.close()
    again = newsflow("upgrade", "--db", str(old_warehouse), "--to", target, "--data", str(data))
    assert_operator_error(again, "already holds articles")


def test_a_warehouse_of_an_older_version_gets_its_migrations_then_is_copied(
    tmp_path: Path,
) -> None:
    """A file written before migration 012 (search index in the 010 layout) is first brought
    to this version's migrations, as any command would, then copied; its articles stay."""
    from newsflow.warehouse.db import migrations

    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMPTZ NOT NULL)"
    )
    for number, name, path in migrations():
        if number >= 12:
            break
        con.execute(path.read_text(encoding="utf-8"))
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, name])
    con.execute(
        "INSERT INTO articles (article_id, url, canonical_url, domain, title, text, word_count, "
        "content_hash, origin, ingested_at) VALUES ('a1', 'https://x.example/1', "
        "'https://x.example/1', 'x.example', 'T', 'some text', 2, 'h1', 'seed', now())"
    )
    assert {"doc_ids"} <= {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'search_blocks'"
        ).fetchall()
    }  # the 010 layout, which the lake does not have
    con.close()
    target = tmp_path / "news.ducklake"
    out = newsflow("upgrade", "--db", str(old), "--to", str(target))
    assert out.returncode == 0, out.stderr
    assert f"{old} is at migration 11; applying this version's migrations up to" in out.stdout
    lake = Lake.from_target(target)
    reader = lakemod.connect(lake, read_only=True)
    assert reader.execute("SELECT article_id FROM articles").fetchall() == [("a1",)]
    reader.close()
