"""The spool and the single loader: idempotent, crash-safe, patient with locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from newsflow.settings import Settings
from newsflow.tasks import spool
from newsflow.warehouse.db import WarehouseLocked, connect_writer, migrations
from newsflow.warehouse.loader import load_spool

from .helpers import hold_reader, make_seed_files, spool_seed_files

ROOT = Path(__file__).resolve().parent.parent


def _count(db: Path, sql: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute(sql).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


def _load(settings: Settings) -> None:
    load_spool(settings.db, settings.spool, lock_wait=settings.lock_wait)


def test_migrations_are_numbered_and_recorded(settings: Settings) -> None:
    numbers = [n for n, _, _ in migrations()]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
    con = connect_writer(settings.db, 5)
    assert [
        r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()
    ] == numbers
    con.close()
    con = connect_writer(settings.db, 5)  # a second connect applies nothing again
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(numbers),)
    con.close()


_KEYS = (
    "SELECT list(table_name ORDER BY table_name) FROM duckdb_constraints() "
    "WHERE constraint_type = 'PRIMARY KEY' "
    "AND table_name IN ('articles', 'search_docs', 'search_terms')"
)


def test_migration_005_keeps_search_rows_comments_and_uniqueness(
    settings: Settings, tmp_path: Path
) -> None:
    # A warehouse of before 005: migrations 001-004 as they were applied, with rows in it.
    con = duckdb.connect(str(settings.db))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMPTZ NOT NULL)"
    )
    for number, name, path in migrations():
        if number < 5:
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, name])
    con.execute(
        "INSERT INTO articles (article_id, url, canonical_url, text, word_count, content_hash, "
        "origin, ingested_at, cluster_id) VALUES ('a1', 'https://x.example/1', "
        "'https://x.example/1', 'Old text.', 2, 'h1', 'seed', now(), 'a1')"
    )
    con.execute("INSERT INTO search_docs VALUES ('a1', 1, 'h1', 0, 1)")
    con.execute("INSERT INTO search_terms VALUES ('qqxold', 1)")
    assert con.execute(_KEYS).fetchone() == (["articles", "search_docs", "search_terms"],)
    con.close()

    paths = make_seed_files(tmp_path / "s", 12)
    spool_seed_files(paths, settings, batch_size=6)
    _load(settings)  # connect_writer applies 005 first
    spool_seed_files(paths[:6], settings, batch_size=3)  # the same articles again
    _load(settings)
    con = duckdb.connect(str(settings.db), read_only=True)
    try:
        assert con.execute(_KEYS).fetchone() == (["articles"],)
        assert con.execute("SELECT text FROM articles WHERE article_id = 'a1'").fetchone() == (
            "Old text.",
        )
        for table, key in (
            ("articles", "article_id"),
            ("search_docs", "article_id"),
            ("search_terms", "term"),
        ):
            total, distinct = con.execute(  # type: ignore[misc]
                f"SELECT count(*), count(DISTINCT {key}) FROM {table}"
            ).fetchone()
            assert total == distinct, table
        assert _count_in(con, "SELECT count(*) FROM articles") == 13
        assert _count_in(con, "SELECT df FROM search_terms WHERE term = 'qqxold'") == 1
        undocumented = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE table_name IN "
            "('search_docs', 'search_terms') AND coalesce(comment, '') = ''"
        ).fetchall()
        assert undocumented == []
        assert con.execute(
            "SELECT is_nullable FROM duckdb_columns() WHERE table_name = 'search_docs' "
            "AND column_name = 'content_hash'"
        ).fetchone() == (False,)
    finally:
        con.close()


def _count_in(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchone()[0])  # type: ignore[index]


def test_spool_manifest_is_the_commit_mark(settings: Settings, tmp_path: Path) -> None:
    ids = spool_seed_files(make_seed_files(tmp_path / "s", 30), settings, batch_size=10)
    assert spool.pending(settings.spool) == sorted(ids)
    # A batch whose manifest was never written (a worker died) is not loaded.
    os.remove(Path(settings.spool) / ids[0] / spool.MANIFEST)
    _load(settings)
    assert _count(settings.db, "SELECT count(*) FROM articles") == 20
    assert spool.pending(settings.spool) == []
    assert spool.incomplete(settings.spool, older_than=0) == [ids[0]]


def test_loading_twice_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    paths = make_seed_files(tmp_path / "s", 50)
    spool_seed_files(paths, settings, batch_size=20)
    _load(settings)
    spool_seed_files(paths, settings, batch_size=7)  # the same rows, cut differently
    report = load_spool(settings.db, settings.spool, lock_wait=5)
    assert (report.loaded, report.unchanged, report.batches) == (0, 50, 8)
    for table, n in (("articles", 50), ("article_sightings", 50), ("article_comments", 10)):
        assert _count(settings.db, f"SELECT count(*) FROM {table}") == n


def test_loaded_batch_left_in_spool_is_skipped(settings: Settings, tmp_path: Path) -> None:
    (batch_id,) = spool_seed_files(make_seed_files(tmp_path / "s", 5), settings)
    folder = Path(settings.spool) / batch_id
    keep = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(folder), str(keep)], check=True)
    _load(settings)
    subprocess.run(["cp", "-r", str(keep), str(folder)], check=True)  # as if cleanup never ran
    report = load_spool(settings.db, settings.spool, lock_wait=5)
    assert (report.batches, report.skipped_batches) == (0, 1)
    assert spool.pending(settings.spool) == []


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import newsflow.warehouse.loader as loader

    real_merge = loader._merge
    calls = 0

    def slow_merge(*args):
        global calls
        real_merge(*args)
        calls += 1
        if calls == int(sys.argv[3]):
            Path(sys.argv[4]).write_text("mid-transaction")  # rows inserted, not committed
            time.sleep(60)

    loader._merge = slow_merge
    loader.load_spool(Path(sys.argv[1]), sys.argv[2], lock_wait=30)
    """
)


@pytest.mark.parametrize("kill_in_batch", [1, 3])
def test_sigkill_mid_batch_then_rerun_loads_every_article_once(
    settings: Settings, tmp_path: Path, kill_in_batch: int
) -> None:
    spool_seed_files(make_seed_files(tmp_path / "s", 200), settings, batch_size=50)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _KILL_SCRIPT,
            str(settings.db),
            settings.spool,
            str(kill_in_batch),
            str(marker),
        ],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, "loader exited before reaching the kill point"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(spool.pending(settings.spool)) == 4 - (kill_in_batch - 1)
    _load(settings)  # the rerun
    assert _count(settings.db, "SELECT count(*) FROM articles") == 200
    assert _count(settings.db, "SELECT count(DISTINCT article_id) FROM articles") == 200
    assert _count(settings.db, "SELECT count(*) FROM article_sightings") == 200
    assert _count(settings.db, "SELECT count(*) FROM spool_batches") == 4
    assert spool.pending(settings.spool) == []


def test_loader_waits_for_a_reader_then_lands_everything(
    settings: Settings, tmp_path: Path
) -> None:
    connect_writer(settings.db, 5).close()
    spool_seed_files(make_seed_files(tmp_path / "s", 40), settings, batch_size=20)
    release = tmp_path / "release"
    reader = hold_reader(settings.db, release)
    waits: list[str] = []

    def on_wait(holder: str, waited: float) -> None:
        waits.append(holder)
        if waited > 1:
            release.touch()  # the analyst closes the session while the loader waits

    try:
        report = load_spool(settings.db, settings.spool, lock_wait=120, on_wait=on_wait)
    finally:
        release.touch()
        reader.wait()
    assert waits and f"PID {reader.pid}" in waits[0]
    assert report.loaded == 40
    assert _count(settings.db, "SELECT count(*) FROM articles") == 40


def test_loader_gives_up_naming_the_lock_and_keeps_the_batches(
    settings: Settings, tmp_path: Path
) -> None:
    connect_writer(settings.db, 5).close()
    ids = spool_seed_files(make_seed_files(tmp_path / "s", 10), settings)
    release = tmp_path / "release"
    reader = hold_reader(settings.db, release)
    try:
        with pytest.raises(WarehouseLocked) as info:
            load_spool(settings.db, settings.spool, lock_wait=1)
        assert f"PID {reader.pid}" in str(info.value)
        assert "NEWSFLOW_LOCK_WAIT" in str(info.value)
        assert spool.pending(settings.spool) == ids
    finally:
        release.touch()
        reader.wait()
    _load(settings)
    assert _count(settings.db, "SELECT count(*) FROM articles") == 10


def test_spool_on_an_fsspec_url(tmp_path: Path) -> None:
    """The spool works on any fsspec filesystem (here the in-memory one), not only folders.
    Settings refuse ``memory://`` for a run (no other process sees it): in this one process it
    stands in for object storage, set past the settings' check."""
    settings = Settings(db=tmp_path / "w.duckdb", _env_file=None)  # type: ignore[call-arg]
    settings = settings.model_copy(update={"spool": "memory://newsflow-test-spool"})
    ids = spool_seed_files(make_seed_files(tmp_path / "s", 12), settings, batch_size=5)
    assert spool.pending(settings.spool) == ids
    report = load_spool(settings.db, settings.spool, lock_wait=5)
    assert (report.loaded, report.batches) == (12, 3)
    assert spool.pending(settings.spool) == []
