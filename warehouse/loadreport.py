"""What a load did: the counts of the batches merged (``warehouse/loader.py``), which the run
ledger adds to each run's row (``warehouse/runs.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass
class LoadReport:
    batches: int = 0
    loaded: int = 0  # new articles
    updated: int = 0  # known articles whose text changed
    duplicates: int = 0  # new articles with duplicate_of set
    unchanged: int = 0  # known articles seen again with the same text
    sightings: int = 0
    rejects: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    skipped_batches: int = 0  # already loaded (a crash came between commit and cleanup)
    revised: int = 0  # article rows whose derived columns a backfill recomputed
    others_batches: int = 0  # batches of other runs merged (credited to those runs)
    # the search index's merges of small segments, after the batches' commits
    search_merges: int = 0
    search_merge_seconds: float = 0.0

    def add(self, other: LoadReport) -> None:
        for f in fields(self):
            if f.name != "rejects_by_reason":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        for reason, count in other.rejects_by_reason.items():
            self.rejects_by_reason[reason] = self.rejects_by_reason.get(reason, 0) + count
