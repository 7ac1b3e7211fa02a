"""The lake's maintenance as operators run it: ``newsflow maintain`` after many small commits
merges files, expires snapshots and deletes unused files while keeping every row, beside a
reader process whose open session keeps answering; the scheduled ``maintenance`` flow does
the same on a lake and says so in its artifact; a single-file warehouse has nothing to do."""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import time
from functools import partial
from pathlib import Path
from queue import Queue
from typing import Any

import duckdb
import pytest

for package in ("duckdb_extension_ducklake", "duckdb_extension_sqlite_scanner"):
    pytest.importorskip(package, reason=f"{package} (pinned DuckDB extension) not installed")

from newsflow.settings import Settings  # noqa: E402
from newsflow.warehouse import lake as lakemod  # noqa: E402
from newsflow.warehouse import lake_maintenance  # noqa: E402
from newsflow.warehouse.lake import BOOKKEEPING, Lake  # noqa: E402
from tests.test_hostile import newsflow  # noqa: E402
from tests.test_lake import WAIT, insert_articles, reader_session  # noqa: E402

COMMITS = 8
ROWS = 40  # more than DuckLake inlines: each commit writes its own small file
SMALL = 3  # fewer: inlined in the catalog until flushed
# the lake's own bookkeeping tables (views applied, the loaders' lock) hold a row each, inlined
BOOKS = len(BOOKKEEPING)


def small_commits(target: Path) -> Lake:
    """A lake after many small loads, as a loader polling often leaves it."""
    lake = Lake.from_target(target)
    con = lakemod.open_warehouse(lake)
    for k in range(COMMITS):
        insert_articles(con, "a", k * ROWS, ROWS)
        insert_articles(con, "s", k * SMALL, SMALL)
    con.close()
    return lake


def everything(lake: Lake) -> list[tuple[Any, ...]]:
    con = lakemod.connect(lake, read_only=True)
    try:
        return con.execute("SELECT * FROM articles ORDER BY ALL").fetchall()
    finally:
        con.close()


def step(out: str, pattern: str) -> tuple[int, ...]:
    found = re.search(pattern, out)
    assert found, (pattern, out)
    return tuple(int(g) for g in found.groups())


def test_maintain_merges_small_commits_beside_a_reader_and_keeps_every_row(
    tmp_path: Path,
) -> None:
    target = tmp_path / "news.ducklake"
    lake = small_commits(target)
    rows = everything(lake)
    assert len(rows) == COMMITS * (ROWS + SMALL)
    with reader_session(lake) as (asks, answers, reader):
        assert answers.get(timeout=WAIT) == ("ready", len(rows))
        out = newsflow("maintain", "--db", str(target), "--keep-days", "0")
        assert out.returncode == 0, out.stderr
        assert f"lake {target}: snapshots kept 0 days" in out.stdout
        (flushed,) = step(out.stdout, r"flush inlined rows: (\d+) rows written to files")
        merged, written = step(out.stdout, r"merge small files: (\d+) files merged into (\d+)")
        (expired,) = step(out.stdout, r"expire snapshots: (\d+) older than 0 days")
        (deleted,) = step(out.stdout, r"delete unused files: (\d+) files deleted")
        before, after = step(out.stdout, r"data files (\d+) -> (\d+)")
        assert flushed == COMMITS * SMALL + BOOKS
        assert merged >= COMMITS and written < merged
        assert expired > 2 * COMMITS and deleted >= merged
        assert after < before
        # the reader's session, open all along, still answers, with every row
        asks.put("count")
        assert answers.get(timeout=WAIT) == ("count", (len(rows), len(rows)))
    assert reader.exitcode == 0
    assert everything(lake) == rows
    # a second pass finds nothing to do
    again = newsflow("maintain", "--db", str(target), "--keep-days", "0")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout


def _loader(target: str, started: Queue[int], loads: int) -> None:
    """A loader committing a load of new articles every half second; a load whose commit
    meets maintenance's is run again (``lake.retry_busy``), as a loader must."""
    con = lakemod.connect(Lake.from_target(target))
    started.put(loads)
    for k in range(loads):
        lakemod.retry_busy(con, partial(insert_articles, con, "w", k * ROWS, ROWS))
        time.sleep(0.5)
    con.close()


def test_maintain_beside_a_loader_committing_keeps_every_row(tmp_path: Path) -> None:
    """A maintenance step whose commit meets a load's (a SQLite catalog takes one writer at a
    time) is run again: the command ends well and no row is lost or doubled."""
    target = tmp_path / "news.ducklake"
    lake = small_commits(target)
    before = len(everything(lake))
    ctx = mp.get_context("spawn")
    started: Queue[int] = ctx.Queue()  # type: ignore[assignment]
    loader = ctx.Process(target=_loader, args=(str(target), started, 6))
    loader.start()
    try:
        assert started.get(timeout=WAIT) == 6
        out = newsflow("maintain", "--db", str(target), "--keep-days", "0")
        loader.join(timeout=WAIT)
    finally:
        if loader.is_alive():
            loader.kill()
    assert loader.exitcode == 0
    assert out.returncode == 0, out.stdout + out.stderr
    rows = everything(lake)
    assert len(rows) == before + 6 * ROWS
    assert len({row[0] for row in rows}) == len(rows)


def test_maintain_keeps_the_snapshots_of_the_retention(tmp_path: Path) -> None:
    """With the default retention (NEWSFLOW_SNAPSHOT_DAYS) files are merged, no snapshot
    expires, and an analyst can still ask what the lake held before the last load."""
    target = tmp_path / "news.ducklake"
    lake = small_commits(target)
    con = lakemod.connect(lake, read_only=True)
    versions = [r[0] for r in con.execute("FROM ducklake_snapshots('news')").fetchall()]
    con.close()
    # a file of a write that never committed, two days old, and one of a write in progress
    folder = Path(lake.data_path) / "main" / "articles"
    stale, fresh = folder / "ducklake-stale.parquet", folder / "ducklake-fresh.parquet"
    for path in (stale, fresh):
        path.write_bytes(b"PAR1 never committed")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    out = newsflow("maintain", "--db", str(target), env={"NEWSFLOW_SNAPSHOT_DAYS": "7"})
    assert out.returncode == 0, out.stderr
    assert "snapshots kept 7 days" in out.stdout
    assert step(out.stdout, r"expire snapshots: (\d+) older than 7 days") == (0,)
    merged, written = step(out.stdout, r"merge small files: (\d+) files merged into (\d+)")
    assert written < merged
    assert step(out.stdout, r"and (\d+) left by writes that never committed") == (1,)
    assert not stale.exists() and fresh.exists()
    con = lakemod.connect(lake, read_only=True)
    before_last = versions[-2]
    assert con.execute(
        f"SELECT count(*) FROM articles AT (VERSION => {before_last})"
    ).fetchone() == (COMMITS * (ROWS + SMALL) - SMALL,)
    con.close()


def test_maintain_says_a_single_file_warehouse_has_nothing_to_do(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    duckdb.connect(str(db)).close()
    out = newsflow("maintain", "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(f"{db} is a single-file warehouse: nothing to maintain")
    assert len(out.stdout.strip().splitlines()) == 1
    missing = newsflow("maintain", "--db", str(tmp_path / "gone.ducklake"))
    assert missing.returncode == 2 and "no lake at" in missing.stderr
    assert not (tmp_path / "gone.ducklake").exists()  # not created by asking


@pytest.mark.usefixtures("prefect_harness")
def test_the_maintenance_flow_maintains_a_lake_and_its_artifact_says_so(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from newsflow.flows.maintenance import maintenance

    target = tmp_path / "news.ducklake"
    lake = small_commits(target)
    rows = everything(lake)
    settings = Settings(
        db=target,
        spool=str(tmp_path / "spool"),
        snapshot_days=0,
        _env_file=None,  # type: ignore[call-arg]
    )
    report = maintenance(settings=settings)
    assert report.lake == str(target)
    assert report.rows_flushed == COMMITS * SMALL + BOOKS
    assert report.files_written < report.files_merged
    assert report.snapshots_expired > 0 and report.files_deleted > 0
    assert report.snapshots == 1 and report.lake_error is None
    assert everything(lake) == rows
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[report.run_id])
            )
        )
    (artifact,) = [a for a in artifacts if a.key == "maintenance"]
    text = str(artifact.data)
    assert f"## lake maintenance: `{target}`" in text
    assert f"| small files merged | {report.files_merged} into {report.files_written} |" in text
    assert "| unused files deleted |" in text
    # a single-file warehouse's report has no lake fields
    single = Settings(db=tmp_path / "w.duckdb", spool=str(tmp_path / "spool"), _env_file=None)  # type: ignore[call-arg]
    plain = maintenance(settings=single)
    assert "lake" not in plain and plain.lake is None
    # a lake that does not exist (a mistyped setting) is reported, not created
    gone = tmp_path / "gone.ducklake"
    missing = maintenance(settings=single.model_copy(update={"db": gone}))
    assert missing.lake == str(gone) and missing.lake_error == f"no lake at {gone} yet"
    assert not gone.exists()


def test_one_entry_point_decides_for_the_command_and_the_flow(tmp_path: Path) -> None:
    """``lake_maintenance.maintain_warehouse`` is what ``newsflow maintain`` and the flow
    both call: None for a single file, ``NoLake`` (nothing created) for a lake not there,
    ``LakeError`` for a setting that names no lake, else the pass with the lake's name."""
    assert lake_maintenance.maintain_warehouse(tmp_path / "news.duckdb") is None
    gone = tmp_path / "gone.ducklake"
    with pytest.raises(lakemod.NoLake, match=f"no lake at {gone} yet"):
        lake_maintenance.maintain_warehouse(gone)
    assert not gone.exists()
    with pytest.raises(lakemod.LakeError, match="is no warehouse"):
        lake_maintenance.maintain_warehouse("ducklake:mysql:db")
    target = tmp_path / "news.ducklake"
    small_commits(target)
    done = lake_maintenance.maintain_warehouse(target, keep_days=0)
    assert done is not None and done.target == str(target)
    assert done.rows_flushed == COMMITS * SMALL + BOOKS and done.after.snapshots == 1
