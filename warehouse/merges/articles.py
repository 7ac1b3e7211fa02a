"""Merge of the articles family: ``articles``, ``article_versions`` and ``article_bands``,
with near-duplicate links (warehouse/stories.py). The statements are in articles.sql.

New articles are inserted by column name; a known article whose text changed materially
(``contract.is_material_change``) keeps its old text in ``article_versions`` and takes the
new values of the columns its record says a revision replaces (``records.ArticleRow``), so
a new column needs no edit here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pyarrow as pa

from newsflow.tasks.contract import Table, columns, is_material_change
from newsflow.warehouse import stories
from newsflow.warehouse.db import rows_by_ids
from newsflow.warehouse.merges import BatchTables, queries

_IDS_PER_QUERY = 50  # literal ids: only their texts are read (the primary key's index)


def _assignment(name: str, rule: str) -> str | None:
    if rule == "keep":
        return None
    if rule == "coalesce":
        return f"{name} = coalesce(n.{name}, articles.{name})"
    if rule.startswith("with:"):
        guard = rule.removeprefix("with:")
        return f"{name} = CASE WHEN n.{guard} IS NULL THEN articles.{name} ELSE n.{name} END"
    return f"{name} = n.{name}"


@cache
def _revise() -> str:
    """The update of a changed article: each column as its record's field says."""
    found = [
        _assignment(c.name, c.on_revision) for c in columns(Table.ARTICLES) if not c.spool_only
    ]
    return queries("articles")["revise"].format(revised=", ".join(a for a in found if a))


def merge(batch: BatchTables, representatives: stories.Representatives) -> None:
    """Merge the batch's articles; ``fresh`` (new) and ``changed`` (revised) stay as temp
    tables for the families merged after."""
    sql, con, report, keys = queries("articles"), batch.con, batch.report, batch.keys
    con.execute(sql["batch_articles"])
    if keys is None:
        con.execute(sql["known"])
    else:  # a lake's key index answers; the rest of the SQL reads its answer
        ids = [r[0] for r in con.execute("SELECT article_id FROM batch_articles").fetchall()]
        _with(batch, "keys_known", keys.known(ids), sql["known_indexed"])
    con.execute(sql["changed"])
    _keep_material_changes(batch)
    report.updated = batch.count("SELECT count(*) FROM changed")
    report.unchanged = batch.count(sql["unchanged_count"])
    if report.updated:
        ids = [row[0] for row in con.execute("SELECT article_id FROM changed").fetchall()]
        for i in range(0, len(ids), _IDS_PER_QUERY):
            part = ids[i : i + _IDS_PER_QUERY]
            con.execute(sql["keep_versions"].format(ids=", ".join("?" * len(part))), part)
        con.execute(_revise())
        con.execute(sql["drop_changed_bands"])
        con.execute(sql["changed_bands"])
        if keys is not None:  # what this transaction changed, which the index does not hold
            revised: list[Any] = con.execute(
                "SELECT article_id, content_hash, bands FROM changed"
            ).fetchall()
            keys.set_overlay(
                {aid: chash for aid, chash, _ in revised},
                [(k, aid) for aid, _, bands in revised for k in bands or []],
            )
    if keys is None:
        con.execute(sql["roots"])
    else:
        hashes = [
            r[0] for r in con.execute("SELECT DISTINCT content_hash FROM batch_articles").fetchall()
        ]
        _with(batch, "keys_roots", keys.roots(hashes), sql["roots_indexed"])
    con.execute(sql["fresh"])
    report.loaded = batch.count("SELECT count(*) FROM fresh")
    _link_near_duplicates(batch, representatives)
    report.duplicates = batch.count("SELECT count(*) FROM fresh WHERE duplicate_of IS NOT NULL")
    con.execute(sql["insert_fresh"])
    con.execute(sql["fresh_bands"])


def _keep_material_changes(batch: BatchTables) -> None:
    """Drop from ``changed`` the texts that changed only immaterially."""
    con = batch.con
    new_texts = dict(con.execute("SELECT article_id, text FROM changed").fetchall())
    if not new_texts:
        return
    sql = "SELECT article_id, text FROM articles WHERE article_id IN ({ids})"
    old_texts = dict(rows_by_ids(con, sql, list(new_texts)))
    minor = [aid for aid, text in new_texts.items() if not is_material_change(old_texts[aid], text)]
    if minor:
        con.execute("DELETE FROM changed WHERE article_id IN (SELECT unnest(?))", [minor])


def _link_near_duplicates(batch: BatchTables, representatives: stories.Representatives) -> None:
    """Point each new article that tells an earlier story at that story's representative,
    and keep the evidence of every new link (warehouse/stories.py, tasks/boilerplate.py)."""
    sql, con = queries("articles"), batch.con
    rows: list[Any] = con.execute(sql["near_duplicate_candidates"]).fetchall()
    links, extra = stories.link_new(
        con,
        [stories.NewArticle(*row) for row in rows],
        representatives=representatives,
        keys=batch.keys,
    )
    if extra:
        keys = pa.table(
            {
                "article_id": [aid for aid, keys in extra.items() for _ in keys],
                "band_key": pa.array([k for keys in extra.values() for k in keys], pa.int64()),
            }
        )
        _with(batch, "nd_extra", keys, sql["stripped_bands"])
    if links:
        pairs = pa.table(
            {"article_id": list(links), "root": [link.representative for link in links.values()]}
        )
        _with(batch, "nd_roots", pairs, sql["near_duplicate_roots"], sql["near_duplicate_copies"])
    exact = dict(
        con.execute(
            "SELECT article_id, duplicate_of FROM fresh WHERE duplicate_of IS NOT NULL"
        ).fetchall()
    )
    row = con.execute("SELECT max(ingested_at) FROM fresh").fetchone()
    if row is None or row[0] is None:
        return
    stories.record(con, links, {aid: rep for aid, rep in exact.items() if aid not in links}, row[0])


def _with(batch: BatchTables, name: str, table: pa.Table, *statements: str) -> None:
    """Run ``statements`` with ``table`` registered as ``name``."""
    batch.con.register(name, table)
    try:
        for statement in statements:
            batch.con.execute(statement)
    finally:
        batch.con.unregister(name)
