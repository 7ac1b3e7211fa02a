"""Merge of what comes with the batch's articles: fetched pages (``raw_pages``), comments,
sightings and notes. Runs after the articles family, whose ``fresh`` and ``changed`` it reads."""

from __future__ import annotations

from newsflow.tasks.contract import Table
from newsflow.warehouse.merges import BatchTables, queries


def merge(batch: BatchTables) -> None:
    # A statement whose batch table is empty is left out: on a lake each one touching a
    # table costs a catalog look-up (tens of ms), whatever the rows.
    sql = queries("attachments")
    con = batch.con
    if batch.has(Table.RAW_PAGES):
        con.execute(sql["raw_pages"])
    if batch.report.updated or batch.has(Table.COMMENTS):  # a new article has none yet
        con.execute(sql["drop_comments"])
    if batch.has(Table.COMMENTS):
        con.execute(sql["comments"])
    if batch.has(Table.SIGHTINGS):  # the INSERT returns the rows it wrote
        batch.report.sightings = batch.count(sql["sightings"])
    if batch.has(Table.NOTES):
        con.execute(sql["notes"])
