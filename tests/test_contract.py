"""The spool contract (tasks/contract.py): one definition of every spooled table, which the
warehouse's tables match and nothing else spells out again."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from newsflow.settings import Settings
from newsflow.tasks import contract
from newsflow.tasks.contract import Table, to_arrow
from newsflow.tasks.records import ArticleRow, Batch, RunRow
from newsflow.tasks.spool import write_batch
from newsflow.warehouse import runs as run_ledger
from newsflow.warehouse.db import connect_writer, migrate
from newsflow.warehouse.loader import load_spool

ROOT = Path(__file__).resolve().parents[1]
CODE = {".py", ".sql", ".toml", ".cfg", ".ini", ".sh", ".yaml", ".yml", ".json"}
# Where an article column may be named: its record, the migrations, the views that show it
# and the warehouse's generated README (besides tests).
ALLOWED = (
    "tasks/records.py",
    "warehouse/migrations/",
    "warehouse/views/",
    "warehouse/README.md",
    "tests/",
    "benchmarks/",  # moved out of tests/: still besides the code
    "eval/",
)
SKIP_DIRS = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}

# Spooled tables and the warehouse table they are stored in, with the warehouse's own
# columns (filled by the loader or by default, never spooled).
STORED_IN = {
    Table.ARTICLES: ("articles", {"cluster_id", "updated_at"}),
    Table.COMMENTS: ("article_comments", set()),
    Table.SIGHTINGS: ("article_sightings", set()),
    Table.NOTES: ("article_notes", {"noted_at"}),
    Table.REJECTS: ("rejects", set()),
    Table.RAW_PAGES: ("raw_pages", set()),
    Table.SEED_FILES: ("seed_files", set()),
}


def _code_files() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        if any(part in SKIP_DIRS for part in path.relative_to(ROOT).parts):
            continue
        if path.is_file() and path.suffix in CODE:
            found.append(path)
    return found


def test_a_derived_article_column_is_named_only_by_its_record_migration_and_view() -> None:
    # reading_minutes was once spelled out in 7 files (the spool's schema, the loader's
    # INSERT and UPDATE lists, the stages); adding a column like it touches the record, a
    # migration and the view that shows it, nothing else.
    word = re.compile(r"\breading_minutes\b")
    found = []
    for path in _code_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(ALLOWED):
            continue
        if word.search(path.read_text(encoding="utf-8", errors="replace")):
            found.append(rel)
    assert found == []


def test_the_loader_names_no_payload_column_of_articles() -> None:
    # The merges insert by name and take revision rules from the record: the columns they
    # reason about are the only article columns they may name.
    reasoned = {"article_id", "title", "text", "content_hash", "duplicate_of", "ingested_at"}
    reasoned |= {"domain", "access_status", "url", "origin", "bands", "shingles"}
    payload = [c.name for c in contract.columns(Table.ARTICLES) if c.name not in reasoned]
    assert "reading_minutes" in payload and "authors" in payload
    files = [ROOT / "warehouse" / "loader.py", ROOT / "tasks" / "spool.py"]
    files += sorted((ROOT / "warehouse" / "merges").iterdir())
    named = {
        (path.name, column)
        for path in files
        if path.is_file()
        for column in payload
        if re.search(rf"\b{column}\b", path.read_text(encoding="utf-8"))
    }
    assert named == set()


@pytest.mark.parametrize("table", list(STORED_IN), ids=str)
def test_every_stored_column_of_a_spooled_table_is_a_warehouse_column(table: Table) -> None:
    con = duckdb.connect()
    migrate(con)
    name, own = STORED_IN[table]
    warehouse = {r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()}
    assert set(contract.stored(table)) | own == warehouse


# The spooled postings are regrouped by the loader (warehouse/search_index.py), not stored
# as spooled: each column lands in a column of the search index (``docs``: the batch's
# numbering of doc_ids; ``words``: one lexicon row per word; the lists: one posting row per
# article).
POSTINGS_STORED_AS = {
    "stemmer": ("search_terms", "stemmer"),
    "term": ("search_terms", "term"),
    "words": ("search_lexicon", "word"),
    "docs": ("search_postings", "doc_id"),
    "title_tfs": ("search_postings", "title_tf"),
    "text_tfs": ("search_postings", "text_tf"),
    "positions": ("search_postings", "positions"),
}


def test_every_spooled_posting_column_lands_in_the_search_index() -> None:
    con = duckdb.connect()
    migrate(con)
    assert set(contract.stored(Table.POSTINGS)) == set(POSTINGS_STORED_AS)
    for table, column in POSTINGS_STORED_AS.values():
        assert column in {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    positions = contract.schema(Table.POSTINGS).field("positions").type
    assert positions == pa.list_(pa.list_(pa.int32()))


def test_runs_spooled_by_workers_are_warehouse_runs_columns() -> None:
    con = duckdb.connect()
    migrate(con)
    warehouse = {r[0] for r in con.execute("DESCRIBE runs").fetchall()}
    assert set(contract.stored(Table.RUNS)) <= warehouse


def test_schemas_come_from_the_row_types() -> None:
    for table in Table:
        names = [f.name for f in fields(contract.ROW_TYPES[table])]
        assert contract.schema(table).names == names
    assert contract.schema(Table.ARTICLES).field("reading_minutes").type == pa.int32()
    assert contract.schema(Table.ARTICLES).field("ingested_at").type == pa.timestamp("us", "UTC")
    assert contract.spool_only(Table.ARTICLES) == ["bands", "shingles"]


def test_an_older_batch_gets_the_columns_it_lacks_as_nulls() -> None:
    row = ArticleRow(
        "a1", "https://x.example/1", "https://x.example/1", "x.example", "T", None, "en", 0.9,
        "one two three", 3, "h", "url", datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    assert row.reading_minutes == 1  # derived from word_count
    table = contract.to_arrow(Table.ARTICLES, [row]).drop_columns(["reading_minutes"])
    conformed = contract.conform(Table.ARTICLES, table)
    assert conformed.column("reading_minutes").to_pylist() == [None]
    assert conformed.column("article_id").to_pylist() == ["a1"]


def test_a_run_row_spooled_by_a_worker_is_merged_by_name(settings: Settings) -> None:
    # A work-pool worker leaves loading to the loader: its run's row travels in the spool
    # (Table.RUNS) and replaces the row's state, while the loader credits the batch counts.
    started = datetime(2026, 1, 1, 8, tzinfo=UTC)
    con = connect_writer(settings.db, 10)
    run_ledger.start_run(con, "worker-run", "ingest-urls", started)
    con.close()
    run = RunRow("worker-run", "ingest-urls", started, started.replace(hour=9), "completed", 4)
    write_batch(
        Batch("worker-run"), settings.spool, extra={Table.RUNS: to_arrow(Table.RUNS, [run])}
    )
    report = load_spool(settings.db, settings.spool, lock_wait=10)
    assert report.batches == 1
    con = duckdb.connect(str(settings.db), read_only=True)
    row = con.execute(
        "SELECT flow, started_at, finished_at, status, items, batches, pid IS NOT NULL "
        "FROM runs WHERE run_id = 'worker-run'"
    ).fetchone()
    con.close()
    assert row == ("ingest-urls", started, started.replace(hour=9), "completed", 4, 1, True)
