"""What a command reads to decide where its work runs is what the run goes on with: seed files
read once (with the Dask task runner configured, small work stays in the command's process),
and a feeds file read once by the command, its feeds handed to the Prefect flow."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from newsflow.flows import inline, steps
from newsflow.settings import Settings
from newsflow.tasks import seeds
from newsflow.tasks.feeds import FeedSpec
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs
from tests.helpers import make_seed_files


def _dask(settings: Settings) -> Settings:
    # no Prefect server: the run is in the warehouse only
    return settings.model_copy(update={"task_runner": "dask", "prefect_server": "temporary"})


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every seed file's bytes read for parsing, whichever step reads them."""
    reads: list[str] = []
    real = seeds.read_seed_bytes

    def read_seed_bytes(path: Path, max_bytes: int) -> bytes:
        reads.append(str(path))
        return real(path, max_bytes)

    monkeypatch.setattr(seeds, "read_seed_bytes", read_seed_bytes)
    return reads


def test_small_seed_work_with_dask_configured_reads_its_files_once(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _counted(monkeypatch)
    files = make_seed_files(tmp_path / "seeds", inline.INLINE_FILES)
    summary = inline.ingest_seeds(_dask(settings), [str(tmp_path / "seeds")])
    assert summary is not None and summary.load.loaded == len(files)
    assert reads == [str(f) for f in files]  # the look that decided, and nothing after
    con = duckdb.connect(str(settings.db), read_only=True)
    rejects = con.execute("SELECT run_id FROM rejects").fetchall()
    ledger = con.execute("SELECT DISTINCT run_id FROM seed_files").fetchall()
    con.close()
    assert ledger == [(summary.run_id,)] and all(r == (summary.run_id,) for r in rejects)


def test_seed_work_too_big_for_the_process_goes_to_the_flow_after_one_look(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _counted(monkeypatch)
    listing = tmp_path / "urls.txt"
    pages = [f"https://a.example/{i}" for i in range(inline._pages() + 1)]
    listing.write_text("\n".join(pages) + "\n")
    assert inline.ingest_seeds(_dask(settings), [str(listing)]) is None
    assert reads == [str(listing)]
    assert not Path(settings.db).exists()  # nothing ran here


@pytest.mark.usefixtures("prefect_harness")
def test_the_feeds_flow_polls_the_feeds_it_is_given(tmp_path: Path, settings: Settings) -> None:
    """Given the feeds read already, the flow does not read the feeds file (here: none)."""
    from newsflow.flows.feeds import ingest_feeds

    srv = FaultServer().start()
    try:
        srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
        srv.routes["/a"] = page(article_html("Pier story", sample_paragraphs("pier", 6)))
        rss = (
            "<rss version='2.0'><channel><title>P</title>"
            f"<item><title>Pier</title><link>{srv.url('/a')}</link></item></channel></rss>"
        )
        srv.routes["/feed.xml"] = page(rss, "application/rss+xml")
        local = settings.model_copy(
            update={
                "allow_private": Settings(allow_private="127.0.0.1").allow_private,
                "per_host_delay": 0.0,
            }
        )
        summary = ingest_feeds(
            feeds_file=str(tmp_path / "no-such-feeds.toml"),
            specs=[FeedSpec(url=srv.url("/feed.xml"), name="pier")],
            settings=local,
        )
        assert summary["load"]["loaded"] == 1
        assert [f["name"] for f in summary["feed_health"]] == ["pier"]
    finally:
        srv.stop()


def test_each_step_has_one_name_in_process_and_as_a_prefect_task() -> None:
    """The in-process run's log and the flows' task runs name a step from one table."""
    from newsflow.flows import feeds, urls
    from newsflow.flows import seeds as seeds_flow
    from newsflow.flows.lifecycle import close
    from newsflow.flows.loading import _load_task

    tasks = {
        steps.fetch_urls: urls.fetch_pages_task,
        steps.process_seed_files: seeds_flow.process_seed_files,
        steps.poll_group: feeds.poll_feeds_task,
        steps.fetch_entries: feeds.fetch_entries_task,
        close: _load_task(),
    }
    assert set(tasks) == set(steps.STEPS)
    for step, task in tasks.items():
        assert task.name == steps.step_name(step) == steps.STEPS[step].name
        assert task.retries == steps.STEPS[step].retries
    assert [steps.step_name(s) for s in (steps.fetch_urls, steps.poll_group, close)] == [
        "fetch-pages",
        "poll-feeds",
        "load-spool",
    ]
    runner = steps.InlineRunner()
    runner.call(steps.seed_files, [])  # outside the table: its own name
    assert list(runner.seconds) == ["seed-files"]
