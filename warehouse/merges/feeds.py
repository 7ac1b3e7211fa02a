"""Merge of ``feed_states``: feed validators and health from the batch's polls (the rules
are in feeds.sql)."""

from __future__ import annotations

from newsflow.tasks.contract import Table
from newsflow.warehouse.merges import BatchTables, queries


def merge(batch: BatchTables) -> None:
    if batch.has(Table.FEED_STATES):
        sql = queries("feeds")
        batch.con.execute(sql["new_feeds"])
        batch.con.execute(sql["feed_states"])
