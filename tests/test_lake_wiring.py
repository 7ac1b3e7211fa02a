"""The warehouse on DuckLake through the loader and the commands (warehouse/storage.py): the
same loads give the same warehouse on both layouts, a crash and a rerun load every article
once, a reader process is never blocked and sees each commit, the commands work on a lake,
and (slow) two loader processes on a real PostgreSQL catalog load shared articles once."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from queue import Queue
from typing import Any

import duckdb
import pytest

for package in ("duckdb_extension_ducklake", "duckdb_extension_sqlite_scanner"):
    pytest.importorskip(package, reason=f"{package} (pinned DuckDB extension) not installed")

from newsflow.settings import Settings  # noqa: E402
from newsflow.tasks import spool  # noqa: E402
from newsflow.warehouse import lake as lakemod  # noqa: E402
from newsflow.warehouse import sandbox, storage  # noqa: E402
from newsflow.warehouse.db import connect_reader, connect_writer  # noqa: E402
from newsflow.warehouse.loader import load_spool  # noqa: E402

from .conftest import SEED  # noqa: E402
from .helpers import make_seed_files, spool_seed_files  # noqa: E402
from .test_loader import _KILL_SCRIPT  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NEWSFLOW = [sys.executable, "-m", "newsflow.cli"]
WAIT = 180  # seconds: generous, the machine is shared; a blocked reader never answers
LAYOUTS = ["news.duckdb", "news.ducklake"]


def _settings(tmp_path: Path, name: str, spool_dir: str = "spool") -> Settings:
    return Settings(
        db=tmp_path / name,
        spool=str(tmp_path / spool_dir),
        lock_wait=30,
        _env_file=None,  # type: ignore[call-arg]
    )


def _count(db: Path, sql: str) -> int:
    con = connect_reader(db)
    try:
        return int(con.execute(sql).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


@pytest.mark.parametrize("name", LAYOUTS)
def test_sigkill_mid_batch_then_rerun_loads_every_article_once(tmp_path: Path, name: str) -> None:
    settings = _settings(tmp_path, name)
    spool_seed_files(make_seed_files(tmp_path / "s", 120), settings, batch_size=40)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(settings.db), settings.spool, "2", str(marker)],
        cwd=ROOT,
    )
    deadline = time.monotonic() + WAIT
    while not marker.exists():
        assert proc.poll() is None, "loader exited before reaching the kill point"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the second batch's rows are in, not committed
    proc.wait()
    assert len(spool.pending(settings.spool)) == 2
    load_spool(settings.db, settings.spool, lock_wait=30)  # the rerun
    assert _count(settings.db, "SELECT count(*) FROM articles") == 120
    assert _count(settings.db, "SELECT count(DISTINCT article_id) FROM articles") == 120
    assert _count(settings.db, "SELECT count(*) FROM article_sightings") == 120
    assert _count(settings.db, "SELECT count(*) FROM spool_batches") == 3
    assert spool.pending(settings.spool) == []


def _with_copies(folder: Path, paths: list[Path], every: int) -> list[Path]:
    """Seed files that repeat the texts of every ``every``-th file under other URLs."""
    copies = []
    for i, path in enumerate(paths[::every]):
        lines = path.read_text(encoding="utf-8").splitlines()
        lines[2] = f"https://copies.example.org/2024/copy-{i}"
        copy = folder / f"copy-{i:04d}.txt"
        copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
        copies.append(copy)
    return copies


_COMPARED = {
    "articles": "SELECT article_id, url, content_hash, duplicate_of, cluster_id, title, text, "
    "published_at FROM articles",
    "article_sightings": "SELECT article_id, origin, url_seen FROM article_sightings",
    "article_comments": "SELECT * FROM article_comments",
    "article_bands": "SELECT * FROM article_bands",
    "duplicate_links": "SELECT article_id, representative, method FROM duplicate_links",
    "text_units": "SELECT unit_hash, domain, stories FROM text_unit_stories",
    "search_docs": "SELECT article_id, content_hash, title_len, text_len FROM search_docs",
    "seed_files": "SELECT path, content_hash FROM seed_files",
    "spool_batches": "SELECT batch_id, articles, rejects FROM spool_batches",
    "rejects": "SELECT source, stage, reason FROM rejects",
}


def test_batches_with_duplicates_give_the_same_warehouse_on_both_layouts(tmp_path: Path) -> None:
    """Copies under other URLs (exact duplicates), an article twice in one batch, and every
    batch loaded a second time: the lake ends up with exactly the rows the file has."""
    originals = make_seed_files(tmp_path / "s", 40)
    copies = _with_copies(tmp_path / "s", originals, 4)
    (tmp_path / "s" / "broken.txt").write_bytes(b"\x00\x01binary")
    broken = tmp_path / "s" / "broken.txt"
    files = [*originals[:5], originals[3], *originals[5:20], *copies, *originals[20:], broken]
    source = _settings(tmp_path, "unused.duckdb", "spool-source")
    spool_seed_files(files, source, batch_size=15)
    got: dict[str, dict[str, list[Any]]] = {}
    for name in LAYOUTS:
        settings = _settings(tmp_path, name, f"spool-{name}")
        shutil.copytree(source.spool, settings.spool)
        first = load_spool(settings.db, settings.spool, lock_wait=30)
        assert (first.loaded, first.duplicates, first.rejects) == (50, 10, 1), name
        shutil.copytree(source.spool, settings.spool, dirs_exist_ok=True)  # as if never removed
        again = load_spool(settings.db, settings.spool, lock_wait=30)
        assert (again.loaded, again.batches, again.skipped_batches) == (0, 0, 4), name
        con = connect_reader(settings.db)
        try:
            got[name] = {
                t: con.execute(f"{q} ORDER BY ALL").fetchall() for t, q in _COMPARED.items()
            }
        finally:
            con.close()
    file, lake = got["news.duckdb"], got["news.ducklake"]
    for table in _COMPARED:
        assert lake[table] == file[table], table
    assert len(file["articles"]) == 50
    assert sum(1 for row in file["articles"] if row[3] is not None) == 10
    assert len({row[0] for row in lake["articles"]}) == 50  # each article once


_PAUSING_LOADER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import newsflow.warehouse.loader as loader

    real_merge = loader._merge
    calls = 0

    def pausing_merge(*args):
        global calls
        real_merge(*args)
        calls += 1
        marks = Path(sys.argv[3])
        (marks / f"merged-{calls}").write_text("rows inserted, not committed")
        while not (marks / f"release-{calls}").exists():
            time.sleep(0.02)

    loader._merge = pausing_merge
    loader.load_spool(Path(sys.argv[1]), sys.argv[2], lock_wait=30)
    """
)


def _reader(db: str, asks: Queue[str], answers: Queue[tuple[str, Any]]) -> None:
    """One session, opened once and held for the whole test; answers each question from it."""
    con = connect_reader(Path(db))
    answers.put(("ready", con.execute("SELECT count(*) FROM articles").fetchone()[0]))  # type: ignore[index]
    while (ask := asks.get()) != "stop":
        row = con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchone()
        answers.put((ask, row))
    con.close()


def test_a_reader_session_is_never_blocked_and_sees_each_commit_of_the_loader(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, "news.ducklake")
    connect_writer(settings.db, 5).close()
    spool_seed_files(make_seed_files(tmp_path / "s", 80), settings, batch_size=20)
    ctx = mp.get_context("spawn")
    asks: Queue[str] = ctx.Queue()  # type: ignore[assignment]
    answers: Queue[tuple[str, Any]] = ctx.Queue()  # type: ignore[assignment]
    reader = ctx.Process(target=_reader, args=(str(settings.db), asks, answers))
    reader.start()
    marks = tmp_path / "marks"
    marks.mkdir()
    loader = subprocess.Popen(
        [sys.executable, "-c", _PAUSING_LOADER, str(settings.db), settings.spool, str(marks)],
        cwd=ROOT,
    )
    try:
        assert answers.get(timeout=WAIT) == ("ready", 0)
        for k in range(1, 5):
            deadline = time.monotonic() + WAIT
            while not (marks / f"merged-{k}").exists():
                assert loader.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            # the loader's transaction is open: the reader answers, with committed rows only
            asks.put("during")
            assert answers.get(timeout=WAIT) == ("during", ((k - 1) * 20, (k - 1) * 20))
            (marks / f"release-{k}").write_text("go")
            # after the commit, the same session sees the batch
            while True:
                asks.put("after")
                _, (rows, distinct) = answers.get(timeout=WAIT)
                if rows == k * 20:
                    assert distinct == rows
                    break
                assert rows == (k - 1) * 20 and time.monotonic() < deadline
                time.sleep(0.05)
        assert loader.wait(timeout=WAIT) == 0
    finally:
        asks.put("stop")
        reader.join(timeout=WAIT)
        for process in (reader, loader):
            if isinstance(process, subprocess.Popen):
                if process.poll() is None:
                    process.kill()
            elif process.is_alive():
                process.kill()
    assert reader.exitcode == 0
    assert not (tmp_path / "news.published.ducklake").exists()


# ---------------------------------------------------------------- the commands on a lake


def _env(tmp_path: Path, db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "PREFECT_"))}
    env.update(
        NEWSFLOW_DB=db,
        NEWSFLOW_SPOOL=str(tmp_path / "spool"),
        NEWSFLOW_PREFECT_SERVER="temporary",
        NEWSFLOW_INLINE="always",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        COLUMNS="200",
    )
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NEWSFLOW, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_the_commands_on_a_lake(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    make_seed_files(seeds, 12)
    (seeds / SEED.name).write_bytes(SEED.read_bytes())
    db = tmp_path / "w" / "news.ducklake"
    env = _env(tmp_path, "unused.duckdb")
    out = _run(["ingest-seeds", str(seeds), "--db", str(db)], env)
    assert out.returncode == 0, out.stderr
    assert "new articles loaded" in out.stdout and "Traceback" not in out.stderr
    assert db.is_file() and (tmp_path / "w" / "news.ducklake.files").is_dir()
    assert not list((tmp_path / "w").glob("*.published*"))  # a lake is never published
    env["NEWSFLOW_DB"] = str(db)

    out = _run(
        ["sql", "SELECT count(*) AS n, count(DISTINCT article_id) AS d FROM articles", "--csv"], env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["n,d", "13,13"]
    out = _run(["sql", "SELECT domain FROM articles WHERE domain = 'sott.net'", "--json"], env)
    assert out.returncode == 0 and out.stdout.strip() == '{"domain": "sott.net"}'
    for refused in (
        "DELETE FROM articles",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM sqlite_scan('{db}', 'ducklake_snapshot')",
        "SELECT * FROM ducklake_expire_snapshots('news', older_than => now())",
        "ATTACH ':memory:' AS other",
        "SET enable_external_access = true",
        "INSTALL httpfs",
    ):
        out = _run(["sql", refused], env)
        assert out.returncode == 2, (refused, out.stdout, out.stderr)
        assert "sandboxed" in out.stderr and "Traceback" not in out.stderr, refused
    out = _run(["sql", "SELECT count(*) FROM news.snapshots()", "--csv"], env)
    assert out.returncode == 0 and int(out.stdout.splitlines()[1]) > 1  # time travel is there

    out = _run(["search", "Putin Xi"], env)
    assert out.returncode == 0, out.stderr
    assert "sott.net" in out.stdout and "live warehouse" in out.stderr
    out = _run(
        ["sql", "SELECT domain FROM search_articles('Putin', max_results := 1)", "--csv"], env
    )
    assert out.returncode == 0 and out.stdout.splitlines() == ["domain", "sott.net"]

    out = _run(["status"], env)
    assert out.returncode == 0, out.stderr
    assert "articles" in out.stdout and "batches waiting" in out.stdout

    target = tmp_path / "export"
    out = _run(["export", str(target)], env)
    assert out.returncode == 0, out.stderr
    assert "exported 13 articles" in out.stdout
    exported = duckdb.connect().execute(
        f"SELECT * FROM read_parquet('{target}/**/*.parquet', hive_partitioning = false)"
    )
    assert len(exported.fetchall()) == 13

    for command in ("publish", "published"):
        out = _run([command], env)
        assert out.returncode == 0, out.stderr
        assert "needs no published copy" in out.stdout.splitlines()[0]
    out = _run(["published"], env)
    line = storage.attach_line(db)
    assert f"{line};" in out.stdout
    assert not list((tmp_path / "w").glob("*.published*"))


def test_a_postgres_catalog_without_its_data_path_is_one_line_exit_2(tmp_path: Path) -> None:
    env = _env(tmp_path, "ducklake:postgres:dbname=newsflow host=127.0.0.1")
    out = _run(["status"], env)
    assert out.returncode == 2
    assert "NEWSFLOW_LAKE_DATA" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    not_a_catalog = tmp_path / "notes.ducklake"
    not_a_catalog.write_text("not a catalog")
    out = _run(["status", "--db", str(not_a_catalog)], _env(tmp_path, "x.duckdb"))
    assert out.returncode == 2 and "not a DuckLake catalog" in out.stderr


def test_the_lake_takes_the_columns_a_newer_migration_adds(tmp_path: Path) -> None:
    db = tmp_path / "news.ducklake"
    con = connect_writer(db, 5)
    con.execute("ALTER TABLE articles DROP COLUMN provenance")  # a lake from before 009
    con.execute("ALTER TABLE runs DROP COLUMN pid_started")  # and before 007's last column
    con.close()
    con = connect_writer(db, 5)
    try:
        columns = {
            (t, c)
            for t, c in con.execute(
                "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = 'news'"
            ).fetchall()
        }
        assert {("articles", "provenance"), ("runs", "pid_started")} <= columns
        assert lakemod.create_schema(con) == []
    finally:
        con.close()


def test_the_sandbox_reads_a_lake_and_nothing_else(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "news.ducklake")
    spool_seed_files(make_seed_files(tmp_path / "s", 10), settings, batch_size=10)
    load_spool(settings.db, settings.spool, lock_wait=30)
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    con = sandbox.connect(settings.db)
    try:
        assert sandbox.run(con, "SELECT count(*) FROM articles").fetchone() == (10,)
        assert sandbox.run(con, "SELECT count(*) FROM daily_counts").fetchone() is not None
        for query in (
            f"SELECT * FROM read_csv('{outside}')",
            f"SELECT * FROM sqlite_scan('{settings.db}', 'ducklake_snapshot')",
            "SELECT * FROM query('SELECT 1')",
            "SELECT * FROM ducklake_cleanup_old_files('news', cleanup_all => true)",
            "CREATE TABLE t (i INTEGER)",
        ):
            with pytest.raises(sandbox.Refused):
                sandbox.run(con, query)
    finally:
        con.close()


# ---------------------------------------------------------------- PostgreSQL catalog


_LOADER = (
    "import sys; from pathlib import Path; from newsflow.warehouse.loader import load_spool; "
    "r = load_spool(Path(sys.argv[1]), sys.argv[2], lock_wait=60, lake_data=sys.argv[3]); "
    "print(r.batches, r.loaded, r.unchanged)"
)


@pytest.mark.slow
def test_two_loaders_on_a_postgres_catalog_load_shared_articles_once(
    postgres: str, tmp_path: Path
) -> None:
    db = Path(f"ducklake:postgres:{postgres}")
    data = str(tmp_path / "shared-data")
    paths = make_seed_files(tmp_path / "s", 90)
    spools = {}
    for name, part in (("a", paths[:60]), ("b", paths[30:])):  # 30 articles in both
        settings = Settings(
            db=db,
            lake_data=data,
            spool=str(tmp_path / f"spool-{name}"),
            _env_file=None,  # type: ignore[call-arg]
        )
        spool_seed_files(part, settings, batch_size=10)
        spools[name] = settings.spool
    connect_writer(db, 5, lake_data=data).close()  # the lake, created with its data path
    ctx = mp.get_context("spawn")
    asks: Queue[str] = ctx.Queue()  # type: ignore[assignment]
    answers: Queue[tuple[str, Any]] = ctx.Queue()  # type: ignore[assignment]
    reader = ctx.Process(target=_reader, args=(str(db), asks, answers))
    reader.start()
    loaders: list[subprocess.Popen[str]] = []
    try:
        assert answers.get(timeout=WAIT) == ("ready", 0)
        loaders = [
            subprocess.Popen(
                [sys.executable, "-c", _LOADER, str(db), spools[name], data],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for name in "ab"
        ]
        outputs = [p.communicate(timeout=WAIT * 3)[0] for p in loaders]
        assert [p.returncode for p in loaders] == [0, 0], outputs
        # each loader merged its 6 batches; together they loaded each article once
        batches = [tuple(map(int, o.split())) for o in outputs]
        assert [b[0] for b in batches] == [6, 6]
        assert sum(b[1] for b in batches) == 90
        asks.put("count")
        assert answers.get(timeout=WAIT) == ("count", (90, 90))
    finally:
        asks.put("stop")
        reader.join(timeout=WAIT)
        if reader.is_alive():
            reader.kill()
        for p in loaders:
            if p.poll() is None:
                p.kill()
    assert _count(db, "SELECT count(*) FROM spool_batches") == 12
    assert _count(db, "SELECT count(*) FROM article_sightings") == 90
    # every commit took the loaders' lock once: the 12 batches' and the search index's
    # merges after them (each made one segment of several loads; one that met the other
    # loader's commit was left to a later load)
    merges = _count(db, "SELECT count(*) FROM search_segments WHERE loads > 1")
    assert _count(db, "SELECT loads FROM lake_load_lock") == 12 + merges
    assert spool.pending(spools["a"]) == spool.pending(spools["b"]) == []
    # `newsflow sql`'s sandbox on the PostgreSQL catalog: reads work, the rest is refused
    con = sandbox.connect(db)
    try:
        assert sandbox.run(con, "SELECT count(*) FROM articles").fetchone() == (90,)
        words = sandbox.run(con, "SELECT count(*) FROM search_articles('court OR budget')")
        assert (words.fetchone() or [0])[0] > 0
        for query in (
            "SELECT * FROM postgres_query('__ducklake_metadata_news', 'SELECT 1')",
            "CALL postgres_execute('__ducklake_metadata_news', 'DROP TABLE ducklake_snapshot')",
            f"SELECT * FROM read_csv('{tmp_path / 's' / '000000.txt'}')",
        ):
            with pytest.raises(sandbox.Refused):
                sandbox.run(con, query)
    finally:
        con.close()


def test_a_local_lake_with_its_data_elsewhere_is_read_where_its_catalog_says(
    tmp_path: Path,
) -> None:
    data = tmp_path / "elsewhere" / "data"
    settings = Settings(
        db=tmp_path / "news.ducklake",
        lake_data=str(data),
        spool=str(tmp_path / "spool"),
        _env_file=None,  # type: ignore[call-arg]
    )
    spool_seed_files(make_seed_files(tmp_path / "s", 6), settings, batch_size=6)
    load_spool(settings.db, settings.spool, lock_wait=30, lake_data=settings.lake_data)
    assert list(data.rglob("*.parquet")) and not (tmp_path / "news.ducklake.files").exists()
    # readers are given only the catalog: the data path is the one it records
    assert _count(settings.db, "SELECT count(*) FROM articles") == 6
    assert f"DATA_PATH '{data}/'" in storage.attach_line(settings.db)


def test_every_command_reads_a_lakes_name_the_same_way(tmp_path: Path) -> None:
    """``--db``, ``upgrade --to`` and ``maintain`` read a lake's name through storage.py alike:
    a lake whose data is elsewhere is maintained by its catalog's path alone (its catalog says
    where the data is), and a name of no form they know is refused by each, one line, exit 2."""
    db = tmp_path / "news.ducklake"
    data = tmp_path / "elsewhere"
    connect_writer(db, 5, lake_data=str(data)).close()
    env = _env(tmp_path, str(db))
    out = _run(["maintain"], env)
    assert out.returncode == 0, out.stderr
    assert f"lake {db}: snapshots kept" in out.stdout
    assert not (tmp_path / "news.ducklake.files").exists()
    for name, words in (
        (f"ducklake:sqlite:{db}", f"by its catalog's path alone: {db}"),
        ("ducklake:mysql:dbname=x", "give PATH.ducklake"),
    ):
        for args in (
            ["status", "--db", name],
            ["upgrade", "--db", str(tmp_path / "old.duckdb"), "--to", name],
            ["maintain", "--db", name],
        ):
            out = _run(args, env)
            assert out.returncode == 2, (args, out.stdout, out.stderr)
            assert words in out.stderr and len(out.stderr.strip().splitlines()) == 1, args
    assert not list(tmp_path.glob("ducklake*")) and not list(ROOT.glob("ducklake*"))


def test_the_spool_may_not_be_the_lakes_data_folder(tmp_path: Path) -> None:
    from newsflow.settings import spool_problem

    db = Path("ducklake:postgres:dbname=newsflow host=db")
    data = tmp_path / "lake-data"
    problem = spool_problem(str(data), db, lake_data=str(data))
    assert problem is not None and "lake's data folder" in problem
    assert spool_problem(str(tmp_path / "spool"), db, lake_data=str(data)) is None
    assert spool_problem(str(tmp_path / "spool"), db, lake_data="s3://bucket/newsflow/") is None


@pytest.mark.slow
def test_backfill_rededup_on_a_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rededup backfill's own test (its UPDATE ... FROM statements, the relinking), run
    on a lake: its helpers open the warehouse through connect_reader/connect_writer."""
    from tests import test_backfill

    def rows(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
        con = connect_reader(settings.db)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def write(settings: Settings, sql: str) -> None:
        con = connect_writer(settings.db, 5)
        try:
            con.execute(sql)
        finally:
            con.close()

    monkeypatch.setattr(test_backfill, "db_rows", rows)
    monkeypatch.setattr(test_backfill, "_write", write)
    settings = _settings(tmp_path, "news.ducklake")
    test_backfill.test_rededup_repairs_derived_columns_and_twice_changes_nothing(settings, tmp_path)
