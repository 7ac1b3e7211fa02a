"""The search index's small segments are merged after a batch's commit, in a transaction of
their own (warehouse/loader.py): a batch is visible to readers without waiting for a merge,
so every FANOUT-th load no longer carries one."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

for package in ("duckdb_extension_ducklake", "duckdb_extension_sqlite_scanner"):
    pytest.importorskip(package, reason=f"{package} (pinned DuckDB extension) not installed")

from newsflow.settings import Settings  # noqa: E402
from newsflow.tasks.process import process_candidates  # noqa: E402
from newsflow.tasks.records import Candidate  # noqa: E402
from newsflow.tasks.spool import write_batch  # noqa: E402
from newsflow.warehouse import lake as lakemod  # noqa: E402
from newsflow.warehouse import search_index, storage  # noqa: E402
from newsflow.warehouse.loader import LoadReport, load_spool  # noqa: E402


def _load_one_notice(settings: Settings, i: int) -> LoadReport:
    url = f"https://n.example/{i}"
    text = f"Ferry timetable number{i} changes for the winter season on the island routes."
    candidate = Candidate(origin="url", source=url, url=url, title=f"Notice {i}", text=text)
    write_batch(process_candidates([candidate], "run"), settings.spool)
    return load_spool(settings.db, settings.spool, lock_wait=30)


def test_a_batch_is_visible_before_the_segments_merge(tmp_path: Path) -> None:
    settings = Settings(
        db=tmp_path / "news.ducklake",
        spool=str(tmp_path / "spool"),
        _env_file=None,  # type: ignore[call-arg]
    )
    reports = [_load_one_notice(settings, i) for i in range(search_index.FANOUT)]
    assert [r.search_merges for r in reports] == [0] * (search_index.FANOUT - 1) + [1]
    assert reports[-1].search_merge_seconds > 0

    analyst = duckdb.connect(config={"autoinstall_known_extensions": False})
    lakemod.load_extensions(analyst, "ducklake", "sqlite_scanner")
    analyst.execute(storage.attach_line(settings.db))
    versions = [
        v
        for (v,) in analyst.execute(
            "SELECT snapshot_id FROM news.snapshots() ORDER BY 1"
        ).fetchall()
    ]

    def at(version: int, sql: str) -> list[tuple[object, ...]]:
        return analyst.execute(sql.format(at=f"AT (VERSION => {version})")).fetchall()

    def articles(version: int) -> int:
        try:
            return int(at(version, "SELECT count(*) FROM news.articles {at}")[0][0])
        except duckdb.CatalogException:  # a snapshot before the schema was created
            return -1

    counts = [articles(v) for v in versions]
    # The snapshot the last batch's commit made: its article is there, with its own segment,
    # and its word in the postings; nothing merged yet.
    visible = versions[counts.index(search_index.FANOUT)]
    assert at(visible, "SELECT loads FROM news.search_segments {at}") == [(1,)] * (
        search_index.FANOUT
    )
    last = f"number{search_index.FANOUT - 1}"
    lexicon = f"(SELECT term_id FROM news.search_lexicon {{at}} WHERE word = '{last}')"
    postings = f"SELECT count(*) FROM news.search_postings {{at}} WHERE term_id IN {lexicon}"
    assert at(visible, postings) == [(1,)]
    # The merge is the next snapshot: the same articles, one segment, the same postings.
    merged = versions[versions.index(visible) + 1]
    assert at(merged, "SELECT count(*) FROM news.articles {at}") == [(search_index.FANOUT,)]
    assert at(merged, "SELECT loads FROM news.search_segments {at}") == [(search_index.FANOUT,)]
    assert at(merged, postings) == [(1,)]
    analyst.execute("USE news")  # as the README has it: the macros find their tables
    hits = analyst.execute(
        "SELECT count(*) FROM search_articles('ferry timetable', "
        "include_duplicates := true, max_results := 100)"
    ).fetchone()
    assert hits == (search_index.FANOUT,)


def test_maintenance_merges_the_segments_loads_leave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load merges only one-load segments; maintenance merges the larger size classes
    (with a fan-out of 2: four loads leave two segments of two loads, which it merges)."""
    from newsflow.warehouse import lake_maintenance

    monkeypatch.setattr(search_index, "FANOUT", 2)
    monkeypatch.setattr(search_index, "INLINE_LOADS", 2)
    settings = Settings(
        db=tmp_path / "news.ducklake",
        spool=str(tmp_path / "spool"),
        _env_file=None,  # type: ignore[call-arg]
    )
    reports = [_load_one_notice(settings, i) for i in range(4)]
    assert [r.search_merges for r in reports] == [0, 1, 0, 1]
    done = lake_maintenance.maintain_warehouse(settings.db, keep_days=0)
    assert done is not None and done.search_merges == 1
    assert done.steps[:2] == ["fold_units", "merge_search_segments"]
    assert "merge search index segments: 1 merges" in done.lines()
    again = lake_maintenance.maintain_warehouse(settings.db, keep_days=0)
    assert again is not None and again.search_merges == 0

    analyst = duckdb.connect(config={"autoinstall_known_extensions": False})
    lakemod.load_extensions(analyst, "ducklake", "sqlite_scanner")
    analyst.execute(storage.attach_line(settings.db))
    analyst.execute("USE news")
    assert analyst.execute("SELECT loads FROM search_segments").fetchall() == [(4,)]
    for i in range(4):
        found = analyst.execute(
            f"SELECT url FROM search_articles('number{i}', include_duplicates := true)"
        ).fetchall()
        assert found == [(f"https://n.example/{i}",)]
