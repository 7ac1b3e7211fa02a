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

from newsflow.warehouse.export import export_articles
from newsflow.warehouse.publish import open_published
from tests.analyst_fixture import FixtureWarehouse
from tests.test_warehouse_docs import _cookbook

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
    from newsflow.warehouse import sandbox

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


PUBLIC_RELATIONS = [
    "articles",
    "articles_unique",
    "article_sightings",
    "article_versions",
    "article_comments",
    "rejects",
    "runs",
    "feeds",
    "daily_counts",
    "rejects_daily",
    "sightings_by_feed",
    "duplicate_clusters",
    "article_clusters",
    "feed_health",
]


def test_export_knows_every_public_relation() -> None:
    from newsflow.warehouse.export import RELATIONS

    assert sorted(RELATIONS) == sorted(PUBLIC_RELATIONS)


@pytest.mark.parametrize("table", PUBLIC_RELATIONS)
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
        assert len(columns) == 30  # 29, and provenance (migration 009)
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


# --- item 9: operator errors get one line and exit 2, not a traceback -----------------------

BAD_SETTINGS = {
    "NEWSFLOW_HTTP_TIMEOUT": "-1",
    "NEWSFLOW_WORKERS": "abc",
    "NEWSFLOW_ALLOW_PRIVATE": "notanip",
    "NEWSFLOW_PUBLISH": "maybe",
    "NEWSFLOW_TASK_RUNNER": "threads",
}


@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS.items(), ids=BAD_SETTINGS.keys())
@pytest.mark.parametrize("command", ["ingest-seeds", "status"])
def test_item9_bad_settings(tmp_path: Path, variable: str, value: str, command: str) -> None:
    env = {variable: value, "NEWSFLOW_DB": str(tmp_path / "news.duckdb")}
    args = [command] + ([str(ROOT / "seeds")] if command == "ingest-seeds" else [])
    out = newsflow(*args, cwd=tmp_path, env=env)
    assert_operator_error(out, variable, value)
    assert not (tmp_path / "news.duckdb").exists()


def test_item9_db_is_a_folder_or_not_duckdb_checked_before_any_work(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(ROOT / "seeds" / "000_fcba646dac09ab2d.txt", seeds)
    spool = tmp_path / "spool"
    env = {"NEWSFLOW_SPOOL": str(spool)}
    folder = tmp_path / "afolder"
    folder.mkdir()
    out = newsflow("ingest-seeds", str(seeds), "--db", str(folder), cwd=tmp_path, env=env)
    assert_operator_error(out, str(folder), "folder")
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 10)
    for command in (["ingest-seeds", str(seeds)], ["status"], ["sql", "SELECT 1"]):
        out = newsflow(*command, "--db", str(text), cwd=tmp_path, env=env)
        assert_operator_error(out, str(text), "not a DuckDB database")
    assert text.read_text() == "not a database\n" * 10
    assert not spool.exists(), "ingest-seeds did work before refusing the --db"


def test_item9_export_to_an_existing_file(
    analyst_warehouse: FixtureWarehouse, tmp_path: Path
) -> None:
    target = tmp_path / "out.parquet"
    target.write_bytes(b"keep me")
    out = newsflow("export", str(target), "--db", str(analyst_warehouse.db), cwd=tmp_path)
    assert_operator_error(out, str(target), "not a folder")
    assert target.read_bytes() == b"keep me"


def test_item9_s3_spool_without_s3fs(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed here")
    env = {"NEWSFLOW_SPOOL": "s3://bucket/spool", "NEWSFLOW_DB": str(tmp_path / "news.duckdb")}
    out = newsflow("ingest-seeds", str(ROOT / "seeds"), cwd=tmp_path, env=env)
    assert_operator_error(out, "NEWSFLOW_SPOOL=s3://bucket/spool", "s3fs")


def _can_mount_tmpfs(where: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs '{where}'"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.slow
def test_item9_disk_full_names_the_path(prefect_harness: None, tmp_path: Path) -> None:
    """A warehouse on a 3 MB file system (a private tmpfs) fills up during the load."""
    from prefect.settings import PREFECT_API_URL

    from tests.helpers import make_seed_files

    small = tmp_path / "small"
    small.mkdir()
    if not _can_mount_tmpfs(small):
        pytest.skip("no private tmpfs mounts here (needs unshare and mount rights)")
    make_seed_files(tmp_path / "seeds", 300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        NEWSFLOW_DB=str(small / "news.duckdb"),
        NEWSFLOW_SPOOL=str(small / "spool"),
    )
    script = 'mount -t tmpfs -o size=3m tmpfs "$1" && shift && exec "$@"'
    seeds = str(tmp_path / "seeds")
    out = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(small), NEWSFLOW, "ingest-seeds", seeds],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert_operator_error(out, "disk full", str(small))


# --- item 10: smaller holes ------------------------------------------------------------------


def test_item10_a_2gb_sparse_seed_is_rejected_unread(tmp_path: Path) -> None:
    import resource

    from newsflow.tasks.seeds import read_seed_files

    big = tmp_path / "big.txt"
    with big.open("wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: 2 GB long, nothing on disk
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    candidates, rejects = read_seed_files([big], "run", max_bytes=10_000_000)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert candidates == []
    assert [(r.source, r.reason) for r in rejects] == [(str(big), "too_large")]
    assert "2147483648 bytes" in rejects[0].detail
    assert grown_mb < 50


def test_item10_fifo_and_dangling_link_get_rejects_without_blocking(tmp_path: Path) -> None:
    import threading

    from newsflow.tasks.seeds import discover, read_seed_files

    folder = tmp_path / "seeds"
    folder.mkdir()
    shutil.copy(ROOT / "seeds" / "000_fcba646dac09ab2d.txt", folder / "good.txt")
    os.mkfifo(folder / "pipe.txt")
    (folder / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    found = discover([folder])
    assert sorted(p.name for p in found) == ["gone.txt", "good.txt", "pipe.txt"]
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(read_seed_files(found, "run")))
    reader.daemon = True  # a blocked open of the FIFO must not hang the test run
    reader.start()
    reader.join(timeout=60)
    assert not reader.is_alive(), "reading the seed folder blocked on the FIFO"
    candidates, rejects = result[0]  # type: ignore[misc]
    assert len(candidates) == 1
    assert sorted((Path(r.source).name, r.reason) for r in rejects) == [
        ("gone.txt", "broken_link"),
        ("pipe.txt", "not_a_file"),
    ]


@pytest.mark.slow
def test_item10_hostile_seed_folder_through_ingest_seeds(
    prefect_harness: None, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    folder = tmp_path / "seeds"
    folder.mkdir()
    shutil.copy(ROOT / "seeds" / "000_fcba646dac09ab2d.txt", folder / "good.txt")
    os.mkfifo(folder / "pipe.txt")
    (folder / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    with (folder / "huge.txt").open("wb") as handle:
        handle.truncate(2 * 1024**3)
    env = {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "NEWSFLOW_DB": str(tmp_path / "news.duckdb"),
        "NEWSFLOW_SPOOL": str(tmp_path / "spool"),
        "NEWSFLOW_SEED_MAX_BYTES": "1000000",
    }
    out = newsflow("ingest-seeds", str(folder), cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    con = duckdb.connect(str(tmp_path / "news.duckdb"), read_only=True)
    try:
        rejects = con.execute("SELECT source, reason FROM rejects ORDER BY source").fetchall()
        articles = con.execute("SELECT count(*) FROM articles").fetchone()
    finally:
        con.close()
    assert [(Path(s).name, r) for s, r in rejects] == [
        ("gone.txt", "broken_link"),
        ("huge.txt", "too_large"),
        ("pipe.txt", "not_a_file"),
    ]
    assert articles == (1,)


def test_item10_multi_member_gzip_is_decoded_whole_within_the_cap(tmp_path: Path) -> None:
    import asyncio
    import gzip

    from newsflow.settings import Settings
    from newsflow.tasks.errors import FetchRefused
    from newsflow.tasks.http import fetch, make_client
    from tests.fetch_server import FaultServer, page

    settings = Settings(
        db=tmp_path / "news.duckdb",
        spool=str(tmp_path / "spool"),
        allow_private="127.0.0.1",
        max_bytes=200_000,
        _env_file=None,  # type: ignore[call-arg]
    )
    parts = [f"<p>part {i} ".encode() + b"x" * 20_000 + b"</p>" for i in range(4)]
    members = b"".join(gzip.compress(p) for p in parts) + b"\x00" * 8  # zero padding
    bomb = b"".join(gzip.compress(b"y" * 150_000) for _ in range(40))  # 6 MB in 40 members
    server = FaultServer().start()
    server.routes["/multi"] = page(members, headers={"Content-Encoding": "gzip"})
    server.routes["/bomb"] = page(bomb, headers={"Content-Encoding": "gzip"})

    async def go(path: str) -> bytes:
        async with make_client(settings) as client:
            response = await fetch(client, server.url(path), settings)
            return response.body

    try:
        assert asyncio.run(go("/multi")) == b"".join(parts)
        with pytest.raises(FetchRefused) as info:
            asyncio.run(go("/bomb"))
        assert info.value.reason == "too_large"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("url", "same_as"),
    [
        ("https://user:pass@example.com/a", "https://example.com/a"),
        ("https://user@example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://EXAMPLE.COM.:443/a", "https://example.com/a"),
        ("https://example.com/%7Euser/a%2db", "https://example.com/~user/a-b"),
        ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
    ],
)
def test_item10_canonical_url_identity(url: str, same_as: str) -> None:
    from newsflow.tasks.normalize import article_id, canonical_url

    assert canonical_url(url) == canonical_url(same_as)
    assert article_id(canonical_url(url)) == article_id(canonical_url(same_as))
    assert "@" not in canonical_url(url) and "pass" not in canonical_url(url)


def test_item10_canonical_url_keeps_reserved_escapes() -> None:
    from newsflow.tasks.normalize import canonical_url

    assert canonical_url("https://example.com/a%2Fb") != canonical_url("https://example.com/a/b")
    assert canonical_url("https://example.com/?q=a%26b") != canonical_url(
        "https://example.com/?q=a&b"
    )


def test_item10_search_domain_wildcards_are_literal(analyst_warehouse: FixtureWarehouse) -> None:
    db = str(analyst_warehouse.db)
    for pattern in ("%", "%.com", "_xample-news.com"):
        out = newsflow("search", "rates", "--domain", pattern, "--duplicates", "--db", db)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("0 results"), (pattern, out.stdout)
    out = newsflow("search", "rates", "--domain", "example-news.com", "--db", db)
    assert out.returncode == 0 and not out.stdout.startswith("0 results"), out.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_item8_day_folders_are_swapped_in_one_step(tmp_path: Path) -> None:
    from newsflow.warehouse.export import _exchange

    new, old = tmp_path / "new", tmp_path / "old"
    for folder, name in ((new, "fresh.parquet"), (old, "stale.parquet")):
        folder.mkdir()
        (folder / name).write_bytes(b"x")
    assert _exchange(new, old)
    assert [p.name for p in old.iterdir()] == ["fresh.parquet"]
    assert [p.name for p in new.iterdir()] == ["stale.parquet"]
