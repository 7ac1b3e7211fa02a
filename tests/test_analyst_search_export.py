"""Full-text search (the SQL macro and `newsflow search`) and exports, on the fixture warehouse."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

from newsflow.cli import app
from newsflow.warehouse import fts
from newsflow.warehouse.db import connect_reader
from newsflow.warehouse.export import export_articles
from newsflow.warehouse.publish import open_published
from tests.analyst_fixture import FixtureWarehouse

runner = CliRunner()


@pytest.fixture
def copy(analyst_warehouse: FixtureWarehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_published(analyst_warehouse.published)
    yield con
    con.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("interest rates inflation", "Central bank raises interest rates to curb inflation"),
        ("storms flooded towns", "Storms flood coastal towns"),
        ("penalty shootout", "Home side wins title on penalties"),
        ("Klimaschutzgesetz", "Regierung beschließt Klimaschutzgesetz"),
        ("réforme des retraites", "Le gouvernement présente la réforme des retraites"),
        ("museum exhibition maps", "Museum reopens east wing"),
        ("oil prices technology", "Markets calm before results"),
    ],
)
def test_the_right_article_ranks_first(
    copy: duckdb.DuckDBPyConnection, query: str, expected: str
) -> None:
    rows = copy.execute("SELECT title, score FROM search_articles(?)", [query]).fetchall()
    assert rows, query
    assert rows[0][0] == expected
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)


def test_a_passing_mention_ranks_below_the_story(copy: duckdb.DuckDBPyConnection) -> None:
    hits = fts.search(copy, "interest rates")
    assert [h.title for h in hits] == [
        "Central bank raises interest rates to curb inflation",
        "Markets calm before results",
    ]
    assert hits[0].score > hits[1].score


def test_search_filters(copy: duckdb.DuckDBPyConnection) -> None:
    everyone = fts.search(copy, "rates", include_duplicates=True)
    assert sorted(h.domain or "" for h in everyone[:3]) == [
        "dailypaper.net",
        "example-news.com",
        "regionaltimes.org",
    ]
    assert [h.domain for h in fts.search(copy, "rates", domain="dailypaper.net")] == []
    copies = fts.search(copy, "rates", domain="dailypaper.net", include_duplicates=True)
    assert [h.title for h in copies] == ["Interest rates: the biggest rise in twenty years"]
    assert copies[0].duplicate_of is not None
    assert fts.search(copy, "rates", since=date(2024, 3, 2)) == [
        h for h in fts.search(copy, "rates") if h.title == "Markets calm before results"
    ]
    assert fts.search(copy, "penalty", until=date(2024, 3, 1), include_duplicates=True)[0].url == (
        "https://www.regionaltimes.org/sport/champions"
    )
    assert [h.language for h in fts.search(copy, "gesetz OR regierung", language="de")] == ["de"]
    assert len(fts.search(copy, "the", limit=1)) <= 1
    assert fts.search(copy, "zebra") == []
    rows = copy.execute(
        "SELECT title FROM search_articles('rates', include_duplicates := true, max_results := 2)"
    ).fetchall()
    assert len(rows) == 2


def test_the_extension_comes_from_the_pinned_package(analyst_warehouse: FixtureWarehouse) -> None:
    assert fts.extension_path().parent.parent.parent.name == "duckdb_extension_fts"
    live = connect_reader(analyst_warehouse.db)
    try:
        assert fts.has_index(live)
    finally:
        live.close()
    # A connection that may not install or autoload anything loads the packaged file.
    con = duckdb.connect(
        str(analyst_warehouse.published),
        read_only=True,
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    try:
        with pytest.raises(duckdb.Error):
            con.execute("SELECT * FROM search_articles('rates')")
        fts.load(con)
        top = con.execute("SELECT title FROM search_articles('rates', max_results := 1)")
        assert top.fetchall() == [("Central bank raises interest rates to curb inflation",)]
    finally:
        con.close()


def test_search_command(analyst_warehouse: FixtureWarehouse) -> None:
    result = runner.invoke(
        app, ["search", "interest rates", "--limit", "5", "--db", str(analyst_warehouse.db)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    first = next(i for i, line in enumerate(lines) if "Central bank raises" in line)
    second = next(i for i, line in enumerate(lines) if "Markets calm" in line)
    assert first < second
    assert "2 results" in result.output
    narrowed = runner.invoke(
        app,
        [
            "search",
            "penalty",
            "--since",
            "2024-03-02",
            "--domain",
            "example-news.com",
            "--duplicates",
            "--db",
            str(analyst_warehouse.db),
        ],
    )
    assert narrowed.exit_code == 0, narrowed.output
    assert "Penalty drama decides" in narrowed.output
    assert "Home side wins" not in narrowed.output
    bad = runner.invoke(app, ["search", "x", "--since", "March", "--db", str(analyst_warehouse.db)])
    assert bad.exit_code == 2


def test_export_parquet_partitioned_by_date(
    copy: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    report = export_articles(copy, out)
    assert report.rows == 11
    assert report.partitions == [date(2024, 3, 1), date(2024, 3, 2)]
    assert sorted(p.name for p in out.iterdir()) == ["date=2024-03-01", "date=2024-03-02"]
    # What pandas.read_parquet(out) does: a pyarrow dataset with hive partitioning.
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 11
    assert {"article_id", "title", "text", "published_at", "duplicate_of", "date"} <= set(
        table.column_names
    )
    back = duckdb.sql(
        f"SELECT date, count(*), count(*) FILTER (undated) FROM read_parquet('{out}/*/*.parquet', "
        "hive_partitioning = true) GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert [(str(d), n, u) for d, n, u in back] == [("2024-03-01", 6, 0), ("2024-03-02", 5, 1)]
    same = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{out}/*/*.parquet') p JOIN (SELECT 1) ON true"
    ).fetchone()
    assert same == (11,)


def test_export_range_and_reexport(copy: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_articles(copy, out)
    report = export_articles(copy, out, since=date(2024, 3, 2), until=date(2024, 3, 2))
    assert report.rows == 5
    assert report.partitions == [date(2024, 3, 2)]
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 11  # the range was replaced, not appended to
    empty = export_articles(copy, tmp_path / "none", since=date(2030, 1, 1))
    assert (empty.rows, empty.partitions) == (0, [])


def test_export_csv(copy: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    report = export_articles(copy, out, until=date(2024, 3, 1), fmt="csv")
    assert report.rows == 6
    (path,) = list(out.glob("date=2024-03-01/*.csv"))
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    storm = next(r for r in rows if r["title"] == "Storms flood coastal towns")
    assert storm["text"].count("\n") == 2  # multi-line texts survive quoting
    assert "date" not in storm  # the partition column is the folder name


def test_export_command(analyst_warehouse: FixtureWarehouse, tmp_path: Path) -> None:
    out = tmp_path / "out"
    db = analyst_warehouse.db
    result = runner.invoke(
        app,
        ["export", str(out), "--since", "2024-03-01", "--format", "csv", "--db", str(db)],
    )
    assert result.exit_code == 0, result.output
    assert "exported 11 articles" in result.output
    assert len(list(out.glob("date=*/*.csv"))) == 2
    bad = runner.invoke(
        app, ["export", str(out), "--format", "xlsx", "--db", str(analyst_warehouse.db)]
    )
    assert bad.exit_code == 2
    shutil.rmtree(out)
