"""The Dask option: ingest-seeds with NEWSFLOW_TASK_RUNNER=dask on a local Dask cluster of
two worker processes (prefect-dask; skipped unless the optional `dask` extra is installed)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from newsflow.flows.runners import SettingsTaskRunner, task_runner
from newsflow.flows.seeds import ingest_seeds
from newsflow.settings import Settings
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs
from tests.helpers import db_rows, make_seed_files

prefect_dask = pytest.importorskip("prefect_dask")
psutil = pytest.importorskip("psutil")


def test_the_setting_chooses_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an address, a LocalCluster of processes with one thread each (lxml under
    trafilatura is not thread-safe); with one, that cluster; by default the flow's own."""
    from prefect.task_runners import ProcessPoolTaskRunner

    base = Settings(_env_file=None)  # type: ignore[call-arg]
    assert isinstance(task_runner(base, ProcessPoolTaskRunner), ProcessPoolTaskRunner)
    local = task_runner(
        base.model_copy(update={"task_runner": "dask", "workers": 2}), ProcessPoolTaskRunner
    )
    assert isinstance(local, prefect_dask.DaskTaskRunner)
    assert local.cluster_kwargs == {
        "n_workers": 2,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": ":0",
    }
    remote = task_runner(
        base.model_copy(update={"task_runner": "dask", "dask_address": "tcp://10.0.0.9:8786"}),
        ProcessPoolTaskRunner,
    )
    assert isinstance(remote, prefect_dask.DaskTaskRunner)
    assert remote.address == "tcp://10.0.0.9:8786"
    # The flow's runner decides when a run starts, from the environment.
    assert isinstance(ingest_seeds.task_runner, SettingsTaskRunner)
    monkeypatch.setenv("NEWSFLOW_TASK_RUNNER", "dask")
    assert isinstance(ingest_seeds.task_runner.duplicate(), prefect_dask.DaskTaskRunner)
    monkeypatch.setenv("NEWSFLOW_TASK_RUNNER", "process")
    assert isinstance(ingest_seeds.task_runner.duplicate(), ProcessPoolTaskRunner)


def _recorder() -> Any:
    """A scheduler plugin that records which worker computed each task."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Recorder(SchedulerPlugin):
        name = "newsflow-test-recorder"

        def __init__(self) -> None:
            self.computed: dict[str, str] = {}
            self.workers: set[str] = set()

        def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
            if start == "processing" and finish == "memory":
                self.computed[str(key)] = str(kwargs.get("worker"))

    return Recorder()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_ingest_seeds_on_a_local_dask_cluster_loads_every_article_once(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsflow.flows import runners

    srv = FaultServer().start()
    try:
        for i in range(3):
            body = article_html(f"Harbour story {i}", sample_paragraphs(f"town {i}", 6))
            srv.routes[f"/news/{i}"] = page(body)
        folder = tmp_path / "seeds"
        make_seed_files(folder, 10)
        urls = [srv.url(f"/news/{i}") for i in range(3)] + [srv.url("/missing")]
        (folder / "list.txt").write_text("\n".join(urls) + "\n")
        settings = settings.model_copy(
            update={
                "batch_size": 3,
                "workers": 2,
                "per_host_delay": 0.0,
                "respect_robots": False,
                "allow_private": Settings(
                    allow_private="127.0.0.1",
                    _env_file=None,  # type: ignore[call-arg]
                ).allow_private,
            }
        )
        monkeypatch.setenv("NEWSFLOW_TASK_RUNNER", "dask")
        monkeypatch.setenv("NEWSFLOW_WORKERS", "2")
        clusters: list[Any] = []
        recorder = _recorder()
        make_cluster = runners.local_cluster

        def recording_cluster(**kwargs: Any) -> Any:
            cluster = make_cluster(**kwargs)
            recorder.workers = set(cluster.scheduler.workers)
            cluster.scheduler.add_plugin(recorder)
            clusters.append(cluster)
            return cluster

        monkeypatch.setattr(runners, "local_cluster", recording_cluster)
        before = {p.pid for p in psutil.Process().children(recursive=True)}

        summary = ingest_seeds(paths=[str(folder)], settings=settings)

        # 11 files in batches of 3: 4 tasks, all computed by the cluster's two worker processes.
        assert len(clusters) == 1
        assert len(recorder.computed) == 4, recorder.computed
        assert len(recorder.workers) == 2
        assert set(recorder.computed.values()) <= recorder.workers
        assert summary["load"]["loaded"] == 13
        assert db_rows(settings, "SELECT count(*), count(DISTINCT url) FROM articles") == [(13, 13)]
        fetched = db_rows(settings, "SELECT url FROM articles WHERE url LIKE 'http://127.0.0.1%'")
        assert sorted(u for (u,) in fetched) == sorted(urls[:3])
        assert db_rows(settings, "SELECT source, reason FROM rejects") == [(urls[3], "http_404")]

        # Run again: nothing is loaded twice.
        again = ingest_seeds(paths=[str(folder)], settings=settings)
        assert again["load"]["loaded"] == 0
        assert db_rows(settings, "SELECT count(*) FROM articles") == [(13,)]
    finally:
        srv.stop()

    # The cluster and the workers' extraction pools are gone with the runs (multiprocessing's
    # resource tracker, started once for the test process, stays with it).
    def stray() -> list[str]:
        found = []
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                line = " ".join(child.cmdline())
                if child.pid not in before and "resource_tracker" not in line:
                    found.append(f"{child.pid}: {line[:200]}")
        return found

    deadline = time.monotonic() + 20
    while stray() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stray() == []
