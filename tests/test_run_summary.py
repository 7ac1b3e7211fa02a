"""The typed run summary: its fields, the plain-data view scripts read, and its two
renderings (the artifact's markdown, the terminal's table and lines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsflow.cli import common as cli_common
from newsflow.flows.summary import (
    FeedTally,
    MaintenanceReport,
    NoSeedFiles,
    RunSummary,
    SitemapTally,
)


def test_plain_view_has_the_keys_of_each_flow() -> None:
    seeds = RunSummary(run_id="r1", flow="ingest-seeds", items=3)
    seeds.load.loaded = 2
    assert seeds["items"] == 3 and seeds["load"]["loaded"] == 2
    assert "feeds" not in seeds.as_dict() and "sitemaps" not in seeds.as_dict()
    feeds = RunSummary(run_id="r2", flow="ingest-feeds", feeds=FeedTally(polled=2, updated=1))
    assert feeds["feeds"]["polled"] == 2 and feeds["feeds"]["not_modified"] == 0
    report = MaintenanceReport(3, 1.25, 1, 0, "r3")
    assert report["waiting_batches"] == 3 and "| oldest waiting (hours) | 1.2 |" in (
        report.markdown()
    )
    with pytest.raises(KeyError):
        seeds["feeds"]


def _printed(summary: RunSummary, *, details: bool = True) -> str:
    with cli_common.console.capture() as captured:
        cli_common.print_summary(summary, Path("w.duckdb"), details=details)
    return " ".join(captured.get().split())  # lines as wrapped at any terminal width


def test_markdown_and_terminal_render_the_same_counts() -> None:
    summary = RunSummary(run_id="r4", flow="backfill", items=5, sections=["**Mode:** x", ""])
    summary.load.loaded, summary.load.rejects, summary.load.revised = 4, 1, 2
    summary.load.rejects_by_reason = {"http_404": 1}
    summary.sitemaps = SitemapTally(sitemaps=1, in_range=5, fetched=4, already_loaded=1)
    text = summary.markdown()
    assert text.startswith("# backfill: run summary\n\n**Mode:** x")
    assert "| new articles loaded | 4 |" in text and "| `http_404` | 1 |" in text
    assert "Backfill revisions applied to article rows: 2." in text
    out = _printed(summary)
    assert "new articles loaded" in out and "rejected: http_404" in out
    assert "run r4 -> warehouse w.duckdb" in out
    assert "article rows revised: 2" in out
    assert "URLs dated in the range: 5, already loaded: 1" in out and "fetched: 4" in out
    assert "article rows revised" not in _printed(summary, details=False)  # a stopped run


def test_terminal_feed_line() -> None:
    summary = RunSummary(run_id="r5", flow="ingest-feeds")
    summary.feeds = FeedTally(polled=3, updated=1, not_modified=1, failed=1, entries=7)
    assert (
        "feeds: 3 polled, 1 with a new response, 1 not modified (304), 1 failed, 0 quarantined "
        "and skipped; 7 entries, 0 already in the warehouse"
    ) in _printed(summary)


def test_a_summary_equals_its_plain_data() -> None:
    summary = RunSummary(run_id="r6", flow="load-spool", items=1)
    assert summary == summary.as_dict() and summary != {"items": 1}
    assert summary != RunSummary(run_id="r7", flow="load-spool", items=1)
    assert NoSeedFiles() == {"items": 0} and NoSeedFiles()["items"] == 0
