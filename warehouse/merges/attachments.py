"""Merge of what comes with the batch's articles: fetched pages (``raw_pages``), comments,
sightings and notes. Runs after the articles family, whose ``fresh`` and ``changed`` it reads."""

from __future__ import annotations

from newsflow.warehouse.merges import BatchTables, queries


def merge(batch: BatchTables) -> None:
    sql = queries("attachments")
    con = batch.con
    con.execute(sql["raw_pages"])
    con.execute(sql["drop_comments"])
    con.execute(sql["comments"])
    before = batch.count(sql["sightings_count"])
    con.execute(sql["sightings"])
    batch.report.sightings = batch.count(sql["sightings_count"]) - before
    con.execute(sql["notes"])
