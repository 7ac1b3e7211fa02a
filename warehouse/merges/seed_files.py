"""Merge of the seed-file ledger (``seed_files``), inside the transaction of the batch that
carries the files' articles, so a file is in the ledger exactly when its articles (or its
rejects) are in the warehouse. Merging the same file twice changes nothing: the first run
that read a content keeps the row."""

from __future__ import annotations

from newsflow.tasks.contract import Table
from newsflow.warehouse.merges import BatchTables, queries


def merge(batch: BatchTables) -> None:
    if batch.has(Table.SEED_FILES):
        batch.con.execute(queries("seed_files")["seed_files"])
