"""warehouse/README.md: the generated schema reference is current, and every cookbook query
runs on the fixture warehouse's published copy and answers something."""

from __future__ import annotations

import re

import duckdb
import pytest

from newsflow.warehouse import docs
from newsflow.warehouse.publish import open_published
from tests.analyst_fixture import FixtureWarehouse

SQL_BLOCK = re.compile(r"^#### (\d+)\. (.+?)\n\n```sql\n(.+?)```", re.S | re.M)


def _cookbook() -> list[tuple[str, str]]:
    text = docs.README.read_text(encoding="utf-8")
    section = text.split("## Cookbook", 1)[1].split(docs.START, 1)[0]
    return [(f"{n}. {title}", sql) for n, title, sql in SQL_BLOCK.findall(section)]


def test_schema_reference_is_current() -> None:
    current = docs.README.read_text(encoding="utf-8")
    assert docs.render(current) == current, "run: python -m newsflow.warehouse.docs --write"


def test_reference_lists_every_table_view_and_column() -> None:
    current = docs.README.read_text(encoding="utf-8")
    con = duckdb.connect()
    docs.migrate(con)
    columns = con.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns() "
        "WHERE NOT internal AND schema_name = 'main'"
    ).fetchall()
    assert len(columns) > 50
    for name, column, comment in columns:
        assert f"### `{name}`" in current
        assert f"| `{column}` |" in current
        # articles_unique passes the columns of articles through; they are documented there.
        assert comment or name == "articles_unique", f"{name}.{column} has no COMMENT"


def test_cookbook_has_at_least_ten_queries() -> None:
    titles = [title for title, _ in _cookbook()]
    assert len(titles) >= 10
    for topic in ("cluster size", "by source over time", "Language mix", "Syndication", "feed"):
        assert any(topic in title for title in titles), topic


@pytest.mark.parametrize(("title", "sql"), _cookbook(), ids=[t for t, _ in _cookbook()])
def test_cookbook_query_runs(analyst_warehouse: FixtureWarehouse, title: str, sql: str) -> None:
    con = open_published(analyst_warehouse.published)
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    assert rows, f"{title} returned no rows on the fixture"


def test_cookbook_answers(analyst_warehouse: FixtureWarehouse) -> None:
    queries = dict(_cookbook())
    con = open_published(analyst_warehouse.published)
    try:
        top = con.execute(queries["1. Top stories by cluster size"]).fetchone()
        syndication = con.execute(
            queries["4. Syndication between sites: who copies whom"]
        ).fetchall()
        feed_day = con.execute(queries["5. What a feed published that day"]).fetchall()
        best = con.execute(
            queries["7. Search, then see every site that ran the best match"]
        ).fetchall()
    finally:
        con.close()
    assert top is not None
    assert top[:3] == ("Central bank raises interest rates to curb inflation", 3, 3)
    assert set(syndication) == {
        ("example-news.com", "regionaltimes.org", 1),
        ("example-news.com", "dailypaper.net", 1),
        ("regionaltimes.org", "example-news.com", 1),
    }
    assert [row[1] for row in feed_day] == [
        "Central bank raises interest rates to curb inflation",
        "Storms flood coastal towns",
    ]
    assert len(best) == 3
    assert best[0][2] == "https://www.example-news.com/economy/rates-rise"
