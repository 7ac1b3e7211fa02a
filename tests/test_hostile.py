"""Hostile input, part 1: analysts' SQL (item 1), re-exports (item 8), operator errors (item 9)
and the smaller holes (item 10). Commands run as users run them: the installed `newsflow`
console script in a subprocess, on real warehouses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.analyst_fixture import FixtureWarehouse
from tests.test_warehouse_docs import _cookbook
from warehouse import sandbox
from warehouse.export import RELATIONS, export_articles
from warehouse.publish import open_published

ROOT = Path(__file__).resolve().parent.parent
NEWSFLOW = str(Path(sys.executable).parent / "newsflow")


def newsflow(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    base["COLUMNS"] = "200"
    return subprocess.run(
        [NEWSFLOW, *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_operator_error(out: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, one line on stderr that says what is wrong, no traceback."""
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture
def own_warehouse(analyst_warehouse: FixtureWarehouse, tmp_path: Path) -> Path:
    """A private copy of the fixture warehouse and its published copy (tests may wreck it)."""
    shutil.copyfile(analyst_warehouse.db, tmp_path / "news.duckdb")
    shutil.copyfile(analyst_warehouse.published, tmp_path / "news.published.duckdb")
    return tmp_path / "news.duckdb"


# --- item 1: newsflow sql can destroy the warehouse and read any file --------------------------

HOSTILE_SQL = {
    "copy-onto-the-warehouse": "COPY (SELECT 'x' AS a) TO 'news.duckdb' (FORMAT csv)",
    "attach-published-read-write": (
        "ATTACH 'news.published.duckdb' AS p (READ_WRITE); DELETE FROM p.articles"
    ),
    "attach-memory": "ATTACH ':memory:' AS m",
    "read-text-passwd": "SELECT * FROM read_text('/etc/passwd')",
    "glob-etc": "SELECT * FROM glob('/etc/*')",
    "read-csv-passwd": "SELECT * FROM read_csv('/etc/passwd')",
    "copy-to-a-file": "COPY (SELECT 1 AS a) TO 'written.csv'",
    "export-database": "EXPORT DATABASE 'dumped'",
    "set-autoinstall": "SET autoinstall_known_extensions = true",
    "reset-lock": "RESET lock_configuration",
    "set-external-access": "SET enable_external_access = true",
    "install-httpfs": "INSTALL httpfs",
    "load-httpfs": "LOAD httpfs",
    "delete": "DELETE FROM articles",
    "insert": "INSERT INTO rejects SELECT * FROM rejects",
    "drop": "DROP TABLE articles",
    "create-table": "CREATE TABLE t AS SELECT 1 AS a",
    "select-then-delete": "SELECT 1; DELETE FROM articles",
}


@pytest.mark.parametrize("query", HOSTILE_SQL.values(), ids=HOSTILE_SQL.keys())
def test_item1_sql_refuses_writes_attach_files_settings_installs(
    own_warehouse: Path, query: str
) -> None:
    folder = own_warehouse.parent
    before = {p.name: p.stat().st_size for p in folder.iterdir()}
    out = newsflow("sql", "--db", "news.duckdb", query, cwd=folder)
    assert_operator_error(out, "newsflow sql", "refused")
    assert "root:" not in out.stdout  # nothing of /etc/passwd
    after = {p.name: p.stat().st_size for p in folder.iterdir()}
    assert after == before, "a file was written or changed"
    for path in (own_warehouse, folder / "news.published.duckdb"):
        con = duckdb.connect(str(path), read_only=True)
        try:
            assert con.execute("SELECT count(*) FROM articles").fetchone() == (11,)
        finally:
            con.close()


@pytest.mark.parametrize("query", HOSTILE_SQL.values(), ids=HOSTILE_SQL.keys())
def test_item1_the_engine_itself_refuses(own_warehouse: Path, query: str) -> None:
    """The refusal is DuckDB's configuration, not only newsflow's statement check."""
    con = sandbox.connect(own_warehouse)
    cwd = Path.cwd()
    os.chdir(own_warehouse.parent)
    try:
        with pytest.raises(duckdb.Error):
            con.execute(query).fetchall()
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ("
                "'enable_external_access', 'lock_configuration', 'autoinstall_known_extensions', "
                "'autoload_known_extensions', 'access_mode')"
            ).fetchall()
        )
    finally:
        os.chdir(cwd)
        con.close()
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "access_mode": "read_only",
    }


@pytest.mark.parametrize(("title", "query"), _cookbook(), ids=[t for t, _ in _cookbook()])
def test_item1_cookbook_runs_through_newsflow_sql(
    analyst_warehouse: FixtureWarehouse, title: str, query: str
) -> None:
    """Every cookbook query through the sandbox, on the published copy the cookbook is
    written for, and on the live warehouse (search included; published_info is the copy's)."""
    targets = [analyst_warehouse.published]
    if "published_info" not in query:
        targets.append(analyst_warehouse.db)
    for db in targets:
        out = newsflow("sql", "--db", str(db), query, "--json")
        assert out.returncode == 0, out.stderr
        rows = [json.loads(line) for line in out.stdout.splitlines()]
        assert rows, f"{title}: no rows from {db.name}"


def test_item1_analysts_queries_and_search_still_work(analyst_warehouse: FixtureWarehouse) -> None:
    db = str(analyst_warehouse.db)
    out = newsflow(
        "sql", "--db", db, "SELECT title FROM search_articles('interest rates')", "--csv"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "Central bank raises interest rates to curb inflation"
    out = newsflow("sql", "--db", db, "DESCRIBE articles; ", "--csv")
    assert out.returncode == 0 and "article_id" in out.stdout
    out = newsflow("search", "interest rates", "--db", db)
    assert out.returncode == 0 and "Central bank raises" in out.stdout, out.stderr
    out = newsflow("status", "--db", db)
    assert out.returncode == 0 and "rejects by reason" in out.stdout, out.stderr
    out = newsflow("sql", "--db", db, "SELECT nope FROM articles")
    assert out.returncode == 1 and "nope" in out.stderr  # a wrong query is not a refusal


# --- issue 13 item 5: complete exports, sql --json ------------------------------------------


def test_sql_json_lines(analyst_warehouse: FixtureWarehouse) -> None:
    out = newsflow(
        "sql",
        "--db",
        str(analyst_warehouse.db),
        "SELECT title, published_at, word_count, tags FROM articles "
        "WHERE published_at IS NOT NULL ORDER BY published_at, title LIMIT 3",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3
    assert list(rows[0]) == ["title", "published_at", "word_count", "tags"]
    assert rows[0]["published_at"].startswith("2024-03-01T")
    assert isinstance(rows[0]["word_count"], int)


@pytest.mark.parametrize("table", RELATIONS)
def test_export_writes_every_column(
    analyst_warehouse: FixtureWarehouse, tmp_path: Path, table: str
) -> None:
    con = open_published(analyst_warehouse.published)
    try:
        columns = [
            row[0]
            for row in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                "AND schema_name = 'main' ORDER BY column_index",
                [table],
            ).fetchall()
        ]
        report = export_articles(con, tmp_path / table, table=table)
    finally:
        con.close()
    assert columns and report.rows > 0
    if table == "articles":
        assert len(columns) == 29
    files = sorted((tmp_path / table).glob("**/*.parquet"))
    assert files
    exported = pq.read_schema(files[0]).names
    extra = ["undated"] if table in ("articles", "articles_unique") else []
    assert exported == columns + extra


# --- item 8: re-exports leave stale data ----------------------------------------------------


def _exported(folder: Path) -> list[tuple[str, str]]:
    rows = duckdb.sql(
        f"SELECT article_id, CAST(date AS VARCHAR) FROM read_parquet('{folder}/*/*.parquet', "
        "hive_partitioning = true) ORDER BY 1"
    ).fetchall()
    return [(a, d) for a, d in rows]


def _current(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT article_id, CAST(CAST(timezone('UTC', coalesce(published_at, ingested_at)) "
        "AS DATE) AS VARCHAR) FROM articles ORDER BY 1"
    ).fetchall()
    return [(a, d) for a, d in rows]


@pytest.mark.parametrize("ranged", [False, True], ids=["whole", "range"])
def test_item8_reexport_after_a_correction_has_exactly_the_current_rows(
    analyst_warehouse: FixtureWarehouse, tmp_path: Path, ranged: bool
) -> None:
    path = tmp_path / "copy.duckdb"
    shutil.copyfile(analyst_warehouse.published, path)
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    out = tmp_path / "export"
    since = date(2024, 3, 1) if ranged else None
    try:
        (moved,) = con.execute(
            "SELECT article_id FROM articles WHERE title = 'Storms flood coastal towns'"
        ).fetchone() or ("",)
        con.execute(
            "UPDATE articles SET published_at = TIMESTAMPTZ '2024-03-05 10:00:00+00' "
            "WHERE article_id = ?",
            [moved],
        )
        export_articles(con, out, since=since)
        assert (moved, "2024-03-05") in _exported(out)
        # The correction: the article belongs to the 4th, and the 5th has no article left.
        con.execute(
            "UPDATE articles SET published_at = TIMESTAMPTZ '2024-03-04 10:00:00+00' "
            "WHERE article_id = ?",
            [moved],
        )
        report = export_articles(con, out, since=since, fmt="parquet")
        assert _exported(out) == _current(con)
        assert report.rows == len(_current(con)) == 11
        assert not (out / "date=2024-03-05").exists()
        # Days outside a range are left alone; days inside it always hold the current rows.
        report = export_articles(con, out, since=date(2024, 3, 4), until=date(2024, 3, 6))
        assert report.partitions == [date(2024, 3, 4)]
        assert _exported(out) == _current(con)
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
        assert leftovers == []
    finally:
        con.close()
