"""Exports carry every column of every public table and view, with its type: for each relation
of ``export.RELATIONS`` on a real warehouse with rows, the Parquet files' columns and types and
the CSV header are compared with the relation's ``DESCRIBE``. And ``newsflow sql --json``
prints one JSON object a line, timestamps as ISO strings and lists as arrays."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from newsflow.warehouse.db import connect_reader
from newsflow.warehouse.export import _ARTICLE_DAY, RELATIONS, export_articles
from tests.analyst_fixture import FixtureWarehouse
from tests.test_hostile import newsflow


def _extras(table: str) -> list[tuple[str, str]]:
    """What an export adds to the relation's own columns: ``undated`` for articles, and the
    hive partition ``date`` (a folder name, not a column of the files) for dated relations."""
    extra = [("undated", "BOOLEAN")] if RELATIONS[table] == _ARTICLE_DAY else []
    if RELATIONS[table] is not None:
        extra.append(("date", "DATE"))
    return extra


def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE {relation}").fetchall()]


@pytest.fixture(scope="module")
def live(analyst_warehouse: FixtureWarehouse) -> duckdb.DuckDBPyConnection:
    con = connect_reader(analyst_warehouse.db)
    yield con
    con.close()


@pytest.mark.parametrize("table", sorted(RELATIONS))
def test_parquet_export_has_every_column_with_its_type(
    live: duckdb.DuckDBPyConnection, tmp_path: Path, table: str
) -> None:
    columns = _describe(live, table)
    count = live.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert columns and count and count[0] > 0, f"{table} has no rows in the fixture warehouse"
    report = export_articles(live, tmp_path / table, table=table)
    assert report.rows == count[0]
    files = f"{tmp_path / table}/**/*.parquet"
    exported = _describe(
        duckdb.connect(), f"SELECT * FROM read_parquet('{files}', hive_partitioning = true)"
    )
    assert exported == columns + _extras(table)
    # and the values: every row of the relation, unchanged
    names = ", ".join(f'"{name}"' for name, _ in columns)
    back = duckdb.connect()
    back.execute("SET TimeZone = 'UTC'")
    got = back.execute(
        f"SELECT {names} FROM read_parquet('{files}', hive_partitioning = true) ORDER BY ALL"
    ).fetchall()
    assert got == live.execute(f"SELECT {names} FROM {table} ORDER BY ALL").fetchall()


@pytest.mark.parametrize("table", sorted(RELATIONS))
def test_csv_export_header_names_every_column(
    live: duckdb.DuckDBPyConnection, tmp_path: Path, table: str
) -> None:
    columns = [name for name, _ in _describe(live, table)]
    report = export_articles(live, tmp_path / table, table=table, fmt="csv")
    files = sorted((tmp_path / table).glob("**/*.csv"))
    assert files and report.rows > 0
    in_files = [name for name, _ in _extras(table) if name != "date"]  # date is the folder
    rows = 0
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(handle))
        assert lines[0] == columns + in_files, path
        rows += len(lines) - 1
    assert rows == report.rows  # records, also those whose text spans lines


def test_sql_json_prints_one_object_a_line_with_iso_times_and_arrays(
    analyst_warehouse: FixtureWarehouse,
) -> None:
    query = (
        "SELECT article_id, published_at, day, word_count, language_confidence, tags, "
        "string_split(domain, '.') AS parts, {'a': 1} AS record, text FROM articles "
        "JOIN (SELECT DATE '2024-03-01' AS day) ON true ORDER BY article_id"
    )
    out = newsflow("sql", "--db", str(analyst_warehouse.db), query, "--json")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    con = connect_reader(analyst_warehouse.db)
    try:
        want = con.execute(query).fetchall()
    finally:
        con.close()
    assert len(lines) == len(want) > 1  # one line per row, even for texts with newlines
    for line, row in zip(lines, want, strict=True):
        record = json.loads(line)
        assert list(record) == [
            "article_id",
            "published_at",
            "day",
            "word_count",
            "language_confidence",
            "tags",
            "parts",
            "record",
            "text",
        ]
        assert record["article_id"] == row[0]
        if row[1] is None:
            assert record["published_at"] is None
        else:
            assert datetime.fromisoformat(record["published_at"]) == row[1]
        assert record["day"] == "2024-03-01"
        assert record["word_count"] == row[3] and isinstance(record["word_count"], int)
        assert record["tags"] == row[5]  # a list as an array (NULL as null)
        assert record["parts"] == row[6] and len(row[6]) > 1  # a list as an array
        assert record["record"] == {"a": 1}
        assert record["text"] == row[8]
