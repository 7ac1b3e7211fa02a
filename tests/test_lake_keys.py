"""A lake's key index (warehouse/keys.py): the loader's lookups by key give the same decisions
as the SQL, and the index follows the lake whatever happened to it since it last looked: a
crash after the lake's commit, another loader's commits, maintenance, ``rededup``, and a
deleted or corrupt index file."""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

for package in ("duckdb_extension_ducklake", "duckdb_extension_sqlite_scanner"):
    pytest.importorskip(package, reason=f"{package} (pinned DuckDB extension) not installed")

from newsflow.settings import Settings  # noqa: E402
from newsflow.tasks.contract import Table, to_arrow  # noqa: E402
from newsflow.tasks.process import process_candidates  # noqa: E402
from newsflow.tasks.records import Batch, Candidate, RelinkRow  # noqa: E402
from newsflow.tasks.spool import write_batch  # noqa: E402
from newsflow.warehouse import keys as keymod  # noqa: E402
from newsflow.warehouse import lake as lakemod  # noqa: E402
from newsflow.warehouse import storage  # noqa: E402
from newsflow.warehouse.db import connect_reader  # noqa: E402
from newsflow.warehouse.lake_maintenance import maintain_report  # noqa: E402
from newsflow.warehouse.loader import load_spool  # noqa: E402

from .helpers import WORDS, make_seed_files, spool_seed_files  # noqa: E402
from .test_extract import PARAGRAPHS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2025, 3, 1, tzinfo=UTC)
STORY = "\n".join(PARAGRAPHS)
REBUILT = "rebuilt from the lake"

# What the index must hold, read from the lake.
_LAKE = {
    "articles": "SELECT article_id, content_hash, epoch_us(ingested_at), "
    "coalesce(cluster_id, article_id), (duplicate_of IS NULL)::INTEGER FROM articles",
    "bands": "SELECT band_key, article_id, count(*) FROM article_bands GROUP BY ALL",
    "units": "SELECT unit_hash, coalesce(domain, ''), stories, first_article "
    "FROM text_unit_stories",
}
_INDEX = {
    "articles": "SELECT article_id, content_hash, ingested_at, cluster_id, root FROM articles",
    "bands": "SELECT band_key, article_id, n FROM bands",
    "units": "SELECT unit_hash, domain, stories, first_article FROM units",
}


def _settings(tmp_path: Path, name: str = "news.ducklake", spool: str = "spool") -> Settings:
    return Settings(
        db=tmp_path / name,
        spool=str(tmp_path / spool),
        lock_wait=30,
        _env_file=None,  # type: ignore[call-arg]
    )


def _index_path(db: Path) -> Path:
    return storage.keys_path(storage.locate(db).catalog)


def _caught_up(db: Path) -> dict[str, list[Any]]:
    """Catch the index up to the lake's last snapshot, as a load does (in a transaction
    that is then rolled back); returns what it holds."""
    con = lakemod.connect(storage.locate(db).lake())
    index = keymod.for_lake(con)
    try:
        con.execute("BEGIN")
        assert index.catch_up(con)
        con.execute("ROLLBACK")
    finally:
        index.close()
        con.close()
    with closing(sqlite3.connect(_index_path(db))) as held:
        return {t: sorted(held.execute(q).fetchall()) for t, q in _INDEX.items()}


def _lake_keys(db: Path) -> dict[str, list[Any]]:
    con = connect_reader(db)
    try:
        return {t: sorted(con.execute(q).fetchall()) for t, q in _LAKE.items()}
    finally:
        con.close()


def _assert_index_matches(db: Path) -> None:
    held, expected = _caught_up(db), _lake_keys(db)
    for table in _LAKE:
        assert held[table] == expected[table], table
    assert expected["articles"] and expected["bands"] and expected["units"]


def _candidate(url: str, text: str) -> Candidate:
    return Candidate("url", url, url, title="t", text=text)


def _load(settings: Settings, candidates: list[Candidate], hours: int) -> None:
    batch = process_candidates(candidates, "test", now=T0 + timedelta(hours=hours))
    write_batch(batch, settings.spool)
    load_spool(settings.db, settings.spool, lock_wait=30)


_STORY_ROWS = {
    "articles": "SELECT article_id, content_hash, duplicate_of, cluster_id, text FROM articles",
    "article_versions": "SELECT article_id, content_hash, text FROM article_versions",
    "article_bands": "SELECT * FROM article_bands",
    "duplicate_links": "SELECT article_id, representative, method FROM duplicate_links",
    "text_units": "SELECT unit_hash, domain, stories, first_article FROM text_unit_stories",
}


def test_near_duplicates_and_revisions_decide_the_same_on_both_layouts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Copies, edited copies, a material revision and a copy of the revised text in the
    batch that revises it: the index's answers (with the transaction's own revisions laid
    over them) give the file's rows; the index matches the lake after every load, caught up
    from the change feed (only the first load builds it)."""
    corrected = STORY.replace("more than a decade", "nearly twenty years")
    wire = "\n".join(["Reporting by staff.", *PARAGRAPHS[:2], PARAGRAPHS[3]])
    loads = [
        [_candidate("https://a.example/story", STORY)],
        [
            _candidate("https://b.example/wire/1", wire),
            _candidate("https://c.example/same", STORY),  # an exact copy
        ],
        [
            _candidate("https://a.example/story", corrected),  # a material revision
            _candidate("https://d.example/copy-of-new", corrected),
            _candidate("https://e.example/edited", corrected.replace("Tuesday", "Monday")),
        ],
        [_candidate("https://f.example/later", corrected + "\nAdvertisement")],
    ]
    got = {}
    for name in ("news.duckdb", "news.ducklake"):
        settings = _settings(tmp_path / name.split(".")[1], name)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="newsflow.warehouse.keys"):
            for hours, candidates in enumerate(loads):
                _load(settings, candidates, hours)
                if storage.is_lake(settings.db):
                    _assert_index_matches(settings.db)
        if storage.is_lake(settings.db):
            assert sum(REBUILT in r.message for r in caplog.records) == 1  # the first load
        con = connect_reader(settings.db)
        try:
            got[name] = {t: sorted(con.execute(q).fetchall()) for t, q in _STORY_ROWS.items()}
        finally:
            con.close()
    for table in _STORY_ROWS:
        assert got["news.ducklake"][table] == got["news.duckdb"][table], table
    versions = got["news.ducklake"]["article_versions"]
    assert len(versions) == 1
    assert len({row[3] for row in got["news.ducklake"]["articles"]}) < 6  # clusters formed


_LOAD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from newsflow.warehouse import loader

    loader.load_spool(Path(sys.argv[1]), sys.argv[2], lock_wait=30)
    """
)
_KILL_AFTER_CATCH_UP = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from newsflow.warehouse import keys, loader

    real = keys.KeyIndex.catch_up
    calls = 0

    def catch_up(self, con):
        global calls
        calls += 1
        usable = real(self, con)
        if calls == int(sys.argv[3]):
            if sys.argv[4] == "after-commit":  # the lake committed, the index never saw it
                con.execute("COMMIT")
            os.kill(os.getpid(), signal.SIGKILL)
        return usable

    keys.KeyIndex.catch_up = catch_up
    loader.load_spool(Path(sys.argv[1]), sys.argv[2], lock_wait=30)
    """
)


@pytest.mark.parametrize("when", ["after-commit", "mid-transaction"])
def test_a_loader_killed_around_its_commit_leaves_an_index_the_next_load_catches_up(
    tmp_path: Path, when: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    spool_seed_files(make_seed_files(tmp_path / "s", 60), settings, batch_size=20)
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER_CATCH_UP, str(settings.db), settings.spool, "2", when],
        cwd=ROOT,
        check=False,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL
    with caplog.at_level(logging.INFO, logger="newsflow.warehouse.keys"):
        load_spool(settings.db, settings.spool, lock_wait=30)
        _assert_index_matches(settings.db)
    assert not any(REBUILT in r.message for r in caplog.records)  # the change feed did it
    con = connect_reader(settings.db)
    try:
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (60,)
        assert con.execute("SELECT count(DISTINCT article_id) FROM articles").fetchone() == (60,)
    finally:
        con.close()


def test_another_loaders_commits_are_caught_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Loads by another machine (its own index) reach this machine's index through the
    change feed; this machine's loads after them decide on the whole lake."""
    settings = _settings(tmp_path)
    paths = make_seed_files(tmp_path / "s", 60)
    spool_seed_files(paths[:20], settings, batch_size=10)
    load_spool(settings.db, settings.spool, lock_wait=30)
    mine = _index_path(settings.db)
    with monkeypatch.context() as other_machine:
        other_machine.setattr(storage, "keys_path", lambda catalog: tmp_path / "other.keys")
        spool_seed_files(paths[20:40], settings, batch_size=10)
        load_spool(settings.db, settings.spool, lock_wait=30)
    assert mine.is_file() and (tmp_path / "other.keys").is_file()
    with caplog.at_level(logging.INFO, logger="newsflow.warehouse.keys"):
        spool_seed_files(paths[40:], settings, batch_size=10)
        load_spool(settings.db, settings.spool, lock_wait=30)
        _assert_index_matches(settings.db)
    assert not any(REBUILT in r.message for r in caplog.records)


def test_maintenance_compaction_is_followed_and_expiry_rebuilds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    paths = make_seed_files(tmp_path / "s", 40)
    spool_seed_files(paths[:20], settings, batch_size=5)
    load_spool(settings.db, settings.spool, lock_wait=30)
    _assert_index_matches(settings.db)
    con = lakemod.connect(storage.locate(settings.db).lake())
    try:
        done = maintain_report(con, keep_days=30)  # flush and merge, nothing expires
        assert done.files_merged and not done.snapshots_expired
    finally:
        con.close()
    with caplog.at_level(logging.INFO, logger="newsflow.warehouse.keys"):
        _assert_index_matches(settings.db)
    assert not any(REBUILT in r.message for r in caplog.records)
    spool_seed_files(paths[20:30], settings, batch_size=5)
    load_spool(settings.db, settings.spool, lock_wait=30)
    con = lakemod.connect(storage.locate(settings.db).lake())
    try:
        assert maintain_report(con, keep_days=0).snapshots_expired
    finally:
        con.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="newsflow.warehouse.keys"):
        spool_seed_files(paths[30:], settings, batch_size=5)
        load_spool(settings.db, settings.spool, lock_wait=30)
        _assert_index_matches(settings.db)
    assert any("no longer in the lake's catalog" in r.message for r in caplog.records)


def test_rededup_rewrites_are_caught_up(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    wire = "\n".join(["Reporting by staff.", *PARAGRAPHS[:2], PARAGRAPHS[3]])
    _load(settings, [_candidate("https://a.example/story", STORY)], 0)
    _load(settings, [_candidate("https://b.example/wire", wire)], 1)
    spool_seed_files(make_seed_files(tmp_path / "s", 20), settings, batch_size=10)
    load_spool(settings.db, settings.spool, lock_wait=30)
    _assert_index_matches(settings.db)
    before = _lake_keys(settings.db)
    # articles loaded before the link rule learned its boilerplate: start over from scratch
    table = to_arrow(Table.RELINK, [RelinkRow("relink", datetime.now(UTC))])
    write_batch(Batch(run_id="relink"), settings.spool, extra={Table.RELINK: table})
    load_spool(settings.db, settings.spool, lock_wait=30)
    _assert_index_matches(settings.db)
    assert _lake_keys(settings.db)["articles"] == before["articles"]


def test_a_deleted_or_corrupt_index_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    paths = make_seed_files(tmp_path / "s", 30)
    spool_seed_files(paths[:10], settings, batch_size=10)
    load_spool(settings.db, settings.spool, lock_wait=30)
    index = _index_path(settings.db)
    assert index == Path(f"{settings.db.resolve()}.keys")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    spool_seed_files(paths[10:20], settings, batch_size=10)
    with caplog.at_level(logging.INFO, logger="newsflow.warehouse.keys"):
        load_spool(settings.db, settings.spool, lock_wait=30)
    assert any(REBUILT in r.message for r in caplog.records)
    _assert_index_matches(settings.db)
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    index.write_bytes(os.urandom(8192))
    caplog.clear()
    spool_seed_files(paths[20:], settings, batch_size=10)
    with caplog.at_level(logging.INFO, logger="newsflow.warehouse.keys"):
        load_spool(settings.db, settings.spool, lock_wait=30)
    assert any("unreadable" in r.message for r in caplog.records)
    _assert_index_matches(settings.db)
    assert _lake_keys(settings.db)["articles"].__len__() == 30


def test_an_index_of_another_lake_at_the_same_path_is_rebuilt(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    spool_seed_files(make_seed_files(tmp_path / "s", 10), settings, batch_size=10)
    load_spool(settings.db, settings.spool, lock_wait=30)
    _caught_up(settings.db)
    kept = tmp_path / "kept.keys"
    shutil.copy(_index_path(settings.db), kept)
    for path in (settings.db, Path(f"{settings.db}.files")):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{_index_path(settings.db)}{suffix}").unlink(missing_ok=True)
    spool_seed_files(make_seed_files(tmp_path / "t", 12, seed=9), settings, batch_size=12)
    load_spool(settings.db, settings.spool, lock_wait=30)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{_index_path(settings.db)}{suffix}").unlink(missing_ok=True)
    shutil.copy(kept, _index_path(settings.db))  # the old lake's index, as if left behind
    _assert_index_matches(settings.db)


def test_a_transaction_behind_the_index_asks_the_lake_and_leaves_the_index(
    tmp_path: Path,
) -> None:
    """Two loaders on one machine: one's transaction reads an older snapshot than the index
    (the other caught it up since); it uses the SQL lookups, the index stays ahead."""
    settings = _settings(tmp_path)
    paths = make_seed_files(tmp_path / "s", 20)
    spool_seed_files(paths[:10], settings, batch_size=10)
    load_spool(settings.db, settings.spool, lock_wait=30)
    where = storage.locate(settings.db).lake()
    behind = lakemod.connect(where)
    index = keymod.for_lake(behind)
    try:
        behind.execute("BEGIN")
        behind.execute("SELECT count(*) FROM articles").fetchone()
        # two batches: the second's catch-up moves the index past the first's commit
        spool_seed_files(paths[10:], settings, batch_size=5)
        other = subprocess.run(  # the other loader, which also catches the index up
            [sys.executable, "-c", _LOAD, str(settings.db), settings.spool],
            cwd=ROOT,
            check=False,
            timeout=300,
        )
        assert other.returncode == 0
        with closing(sqlite3.connect(_index_path(settings.db))) as held:
            ahead = {t: sorted(held.execute(q).fetchall()) for t, q in _INDEX.items()}
        assert not index.catch_up(behind)
        behind.execute("ROLLBACK")
    finally:
        index.close()
        behind.close()
    with closing(sqlite3.connect(_index_path(settings.db))) as held:
        assert sorted(held.execute(_INDEX["articles"]).fetchall()) == ahead["articles"]
    assert len(ahead["articles"]) == 15  # up to the first of its two batches


_FOOTER = "Follow the Valley Herald for more news from the region every morning."


def _story(seed: int) -> str:
    rng = random.Random(seed)
    sentences = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 20))).capitalize() + "."
        for _ in range(12)
    ]
    return "\n".join([*(" ".join(sentences[i : i + 3]) for i in range(0, 12, 3)), _FOOTER])


def _units(db: Path) -> dict[str, list[Any]]:
    con = connect_reader(db)
    try:
        return {
            t: sorted(con.execute(f"SELECT unit_hash, domain, stories FROM {t}").fetchall())
            for t in ("text_units", "text_unit_stories", "text_unit_deltas")
        }
    finally:
        con.close()


def test_loads_append_sentence_counts_that_maintenance_folds_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On a lake a load never updates ``text_units``: a sentence it already holds (a
    footer of the same domain) gets its new stories in ``text_unit_deltas``, and the counts
    (``text_unit_stories``, the key index) are the file's. Maintenance folds the deltas in,
    after which ``text_units`` itself is the file's; the index follows through the change
    feed."""
    loads = [[_candidate(f"https://herald.example/{i}", _story(i))] for i in range(4)]
    lake, file = (
        _settings(tmp_path / "l", "news.ducklake"),
        _settings(tmp_path / "f", "news.duckdb"),
    )

    def both(hours: int) -> None:
        for settings in (lake, file):
            _load(settings, loads[hours], hours)

    both(0)
    both(1)
    on_lake, on_file = _units(lake.db), _units(file.db)
    footer = [r for r in on_file["text_units"] if r[2] == 2]
    assert len(footer) == 1 and footer[0][1] == "herald.example"  # only the footer is shared
    assert on_lake["text_unit_stories"] == on_file["text_units"] == on_file["text_unit_stories"]
    assert on_lake["text_unit_deltas"] == [(*footer[0][:2], 1)] and not on_file["text_unit_deltas"]
    assert on_lake["text_units"] != on_file["text_units"]  # the footer's row was not rewritten
    _assert_index_matches(lake.db)
    both(2)
    con = lakemod.connect(storage.locate(lake.db).lake())
    try:
        done = maintain_report(con, keep_days=30)
    finally:
        con.close()
    assert done.units_folded == 2 and done.steps[0] == "fold_units"
    on_lake, on_file = _units(lake.db), _units(file.db)
    assert on_lake == on_file and not on_lake["text_unit_deltas"]
    with caplog.at_level(logging.INFO, logger="newsflow.warehouse.keys"):
        _assert_index_matches(lake.db)
        both(3)  # a count on top of a folded one
        _assert_index_matches(lake.db)
    assert not any(REBUILT in r.message for r in caplog.records)
    on_lake, on_file = _units(lake.db), _units(file.db)
    assert on_lake["text_unit_stories"] == on_file["text_units"]
    assert [r[2] for r in on_file["text_units"] if r[:2] == footer[0][:2]] == [4]
