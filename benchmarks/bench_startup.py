"""Benchmark: what a command costs, start-up included, with the local Prefect server running.

    PYTHONPATH=. nice python benchmarks/bench_startup.py [--repeat 3] [--pages 181]

Real ``newsflow`` processes (the console script's module) against loopback HTTP servers, in a
temporary warehouse with its own ``.prefect`` home. Each scenario runs on both paths:
``in process`` (the default with the local task runner: ``flows/inline.py``, no Prefect
import; workers only for big work) and ``prefect flow`` (``NEWSFLOW_INLINE=never``, what
deployments and a Dask task runner run). Wall time of each command, and where it went:

- ``imports``: a process that only imports what the command imports on that path (CLI and
  the steps in process; CLI and the flow's module for the flow);
- ``flow run``: the flow run's own time as the Prefect server recorded it, and within it the
  steps: for the flow, its tasks (fetch/processing, and ``load`` = the ``load-spool`` task:
  the final merge and publish); in process, the steps' times the run logs to its flow run
  (``load-spool`` there also waits for the background loads);
- ``other``: the rest (checking the server, creating the flow run, summary, exit).

Scenarios: one URL; a feed re-poll answered 304; one seed file; the page set (the first
``--pages`` pages of the shared eval sets, fundus then wcxb-dev, on 4 loopback addresses, each
run into a warehouse of its own; extracted in the worker pool on both paths) against bare
``trafilatura.extract`` on the same pages in one process on one core, measured in the same
run: the runs take turns, each between two bare extractions, and its ratio is its wall time
over the mean of those two (the machine is shared: compare the ratios, not the seconds; the
figure is the median of the runs' ratios). Then the
first command when the server must start (stopped, as after a reboot), on both paths, and
the one-URL run with the per-command temporary server (``NEWSFLOW_PREFECT_SERVER=temporary``)
for comparison.
Targets: one URL <= 3 s, 304 re-poll <= 2 s, one seed file <= 2 s, page set <= 2x bare.
It prints figures; it never passes or fails.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsflow.flows import runtime  # noqa: E402
from tests.fetch_server import (  # noqa: E402
    FaultServer,
    article_html,
    conditional,
    page,
    sample_paragraphs,
)
from tests.helpers import make_seed_files  # noqa: E402

EVAL = next(
    (p for p in (ROOT.parent / "shared" / "eval", Path("/work/shared/eval")) if p.exists()),
    ROOT.parent / "shared" / "eval",
)
HOSTS = 4
TARGETS = {"one URL": 3.0, "304 re-poll": 2.0, "one seed file": 2.0}
IMPORTS = {
    "ingest-urls": "import newsflow.cli, newsflow.flows.urls",
    "ingest-feeds": "import newsflow.cli, newsflow.flows.feeds",
    "ingest-seeds": "import newsflow.cli, newsflow.flows.seeds",
}
# what a run in process imports (no Prefect): the CLI, its steps, the REST recorder
INLINE_IMPORTS = (
    "import newsflow.cli, newsflow.flows.inline, newsflow.flows.prefect_rest, newsflow.flows.steps"
)
NEVER = {"NEWSFLOW_INLINE": "never"}
STEPS_LOG = re.compile(r"steps: (.*)")


def raw_pages(n: int) -> list[bytes]:
    files = sorted((EVAL / "fundus" / "html").glob("*.html.gz"))
    files += sorted((EVAL / "wcxb-dev" / "html").glob("*.html.gz"))
    return [gzip.decompress(p.read_bytes()) for p in files[:n]]


def _serve(n: int, conn: Connection) -> None:
    """In its own process: the page set on ``HOSTS`` loopback addresses; sends the URLs."""
    servers = []
    for h in range(HOSTS):
        srv = FaultServer(host=f"127.0.0.{h + 1}").start()
        srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
        servers.append(srv)
    urls = []
    for i, body in enumerate(raw_pages(n)):
        srv = servers[i % HOSTS]
        srv.routes[f"/news/{i}"] = page(body, "text/html")
        urls.append(srv.url(f"/news/{i}"))
    conn.send(urls)
    conn.recv()
    for srv in servers:
        srv.stop()


def bare_seconds(n: int) -> float:
    """Seconds bare trafilatura.extract takes on the pages, one process, one core, at the
    extraction workers' priority (set-up and first call excluded)."""
    from newsflow.tasks.extraction_pool import lower_priority

    with ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=lower_priority
    ) as pool:
        return pool.submit(_bare, n).result()


def _bare(n: int) -> float:
    import trafilatura
    from trafilatura.external import jt_stoplist_init
    from trafilatura.utils import decode_file

    htmls = [decode_file(body) for body in raw_pages(n)]
    trafilatura.extract(htmls[0])
    jt_stoplist_init()
    started = time.perf_counter()
    for html in htmls:
        trafilatura.extract(html)
    return time.perf_counter() - started


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "w" / ".prefect"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "PREFECT_"))
        }
        self.env.update(
            NEWSFLOW_DB=str(tmp / "w" / "news.duckdb"),
            NEWSFLOW_SPOOL=str(tmp / "w" / "spool"),
            NEWSFLOW_PREFECT_PORT="0",
            NEWSFLOW_ALLOW_PRIVATE=",".join(f"127.0.0.{h + 1}" for h in range(HOSTS)),
            NEWSFLOW_PER_HOST_DELAY="0",
            NEWSFLOW_PER_HOST_CONCURRENCY="8",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            COLUMNS="200",
        )

    def command(self, args: list[str], **env: str) -> tuple[float, str]:
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "newsflow.cli", *args],
            env={**self.env, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        wall = time.perf_counter() - started
        if out.returncode != 0:
            raise RuntimeError(f"{args[0]} exited {out.returncode}: {out.stderr[-2000:]}")
        return wall, out.stdout

    def imports(self, command: str, inline: bool = False) -> float:
        code = INLINE_IMPORTS if inline else IMPORTS[command]
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=self.env, cwd=ROOT, check=True)
        return time.perf_counter() - started

    def flow_times(self, stdout: str) -> dict[str, float]:
        """The flow run's time and its tasks' (by task name), from the Prefect server."""
        found = re.search(r"run ([0-9a-f-]{36}) -> warehouse", stdout)
        server, _ = runtime.status(self.home)
        if not found or server is None:
            return {}
        import httpx

        run_id = found.group(1)
        with httpx.Client(base_url=server.api_url, timeout=30) as client:
            run = client.get(f"/flow_runs/{run_id}").json()
            tasks = client.post(
                "/task_runs/filter", json={"task_runs": {"flow_run_id": {"any_": [run_id]}}}
            ).json()
        times = {"flow run": _span(run)}
        if "in-process" in run.get("tags", []):  # no tasks: the steps' times from its log
            with httpx.Client(base_url=server.api_url, timeout=30) as client:
                logs = client.post(
                    "/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}}
                ).json()
            for line in logs:
                if steps := STEPS_LOG.search(line["message"]):
                    for part in steps.group(1).split(", "):
                        name, seconds = part.rsplit(" ", 1)
                        times[name] = float(seconds.rstrip("s"))
        for task in tasks:
            name = str(task["name"]).rsplit("-", 1)[0] if "load" not in task["name"] else "load"
            times[name] = times.get(name, 0.0) + _span(task)
        return times


def _span(run: dict[str, Any]) -> float:
    if not run.get("start_time") or not run.get("end_time"):
        return 0.0
    start = datetime.fromisoformat(run["start_time"])
    end = datetime.fromisoformat(run["end_time"])
    return (end - start).total_seconds()


def report(
    name: str,
    walls: list[float],
    parts: list[dict[str, float]],
    imports: float,
    target: float | None = None,
) -> None:
    median = statistics.median(walls)
    verdict = (
        ""
        if target is None
        else f"  target <= {target:g}s: {'met' if median <= target else 'NOT met'}"
    )
    print(f"{name}: wall median {median:.2f}s, best {min(walls):.2f}s over {len(walls)}{verdict}")
    keys = sorted({k for p in parts for k in p}, key=lambda k: (k != "flow run", k))
    flow = statistics.median([p.get("flow run", 0.0) for p in parts]) if parts else 0.0
    print(f"    imports (process start, CLI, steps or flow module) {imports:.2f}s")
    for key in keys:
        value = statistics.median([p.get(key, 0.0) for p in parts])
        print(f"    {'' if key == 'flow run' else '  '}{key} {value:.2f}s")
    other = max(0.0, median - imports - flow)
    print(f"    other (server check, flow-run creation, summary, exit) {other:.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pages", type=int, default=181)
    parser.add_argument("--no-temporary", action="store_true", help="skip the fallback's run")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bench = Bench(tmp)
        small = FaultServer().start()
        small.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
        for prefix in "ipa":  # one page set per path (in process, prefect flow), and a0
            for i in range(args.repeat + 3):
                small.routes[f"/{prefix}{i}"] = page(
                    article_html(f"Harbour {prefix}{i}", sample_paragraphs(f"town {prefix}{i}", 8))
                )
        rss = (
            "<rss version='2.0'><channel><title>T</title><item><title>Harbour 0</title>"
            f"<link>{small.url('/a0')}</link><guid>g0</guid></item></channel></rss>"
        ).encode()
        small.routes["/feed.xml"] = conditional(rss, '"v1"', "application/rss+xml")
        parent, child = multiprocessing.Pipe()
        server_proc = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(args.pages, child), daemon=True
        )
        server_proc.start()
        urls = parent.recv()
        try:
            # the very first command: a new PREFECT_HOME, the server creates its database
            wall, _ = bench.command(["ingest-urls", small.url("/a0")])
            print(f"first command ever (new Prefect database, server started): {wall:.2f}s")
            bench.command(["ingest-feeds", "--feed", small.url("/feed.xml")])  # validators

            def scenario(name: str, command: str, make_args: Any) -> None:
                for path, env in (("in process", {}), ("prefect flow", NEVER)):
                    walls, parts = [], []
                    for i in range(args.repeat):
                        wall, out = bench.command(make_args(path, i), **env)
                        walls.append(wall)
                        parts.append(bench.flow_times(out))
                    imports = bench.imports(command, inline=not env)
                    report(f"{name}, {path}", walls, parts, imports, TARGETS[name])

            scenario(
                "one URL",
                "ingest-urls",
                lambda path, i: ["ingest-urls", small.url(f"/{path[0]}{i + 1}")],
            )
            scenario(
                "304 re-poll",
                "ingest-feeds",
                lambda path, i: ["ingest-feeds", "--feed", small.url("/feed.xml")],
            )
            seeds = make_seed_files(tmp / "seeds", 2 * args.repeat, seed=5)
            scenario(
                "one seed file",
                "ingest-seeds",
                lambda path, i: [
                    "ingest-seeds",
                    str(seeds[i + (args.repeat if path == "prefect flow" else 0)]),
                ],
            )

            # The page set: the default path (in process: extraction in the worker pool, no
            # Prefect engine) and the Prefect flow, in turns, each run between two bare
            # extractions (the machine is shared: a run is compared with the bare time
            # measured just before and just after it), each into a warehouse of its own
            # (beside the first: the same Prefect server).
            bares = [bare_seconds(args.pages)]
            runs: dict[str, list[tuple[float, float, dict[str, float]]]] = {}
            for i in range(args.repeat):
                for path, inline in (("in process", "auto"), ("prefect flow", "never")):
                    wall, out = bench.command(
                        ["ingest-urls", *urls],
                        NEWSFLOW_INLINE=inline,
                        NEWSFLOW_DB=str(tmp / "w" / f"pages-{inline}-{i}.duckdb"),
                        NEWSFLOW_SPOOL=str(tmp / "w" / f"spool-{inline}-{i}"),
                    )
                    bares.append(bare_seconds(args.pages))
                    ratio = wall / statistics.mean(bares[-2:])
                    runs.setdefault(path, []).append((wall, ratio, bench.flow_times(out)))
            for path, done in runs.items():
                walls = [wall for wall, _, _ in done]
                imports = bench.imports("ingest-urls", inline=path == "in process")
                name = f"page set ({args.pages} pages), {path}"
                report(name, walls, [parts for _, _, parts in done], imports)
                ratio = statistics.median([r for _, r, _ in done])
                print(
                    f"    ratio newsflow/bare {ratio:.2f}x (target <= 2x: "
                    f"{'met' if ratio <= 2 else 'NOT met'}; median of the runs' "
                    f"{', '.join(f'{r:.2f}x' for _, r, _ in done)})"
                )
            print(
                "    bare trafilatura.extract, one core, around the runs: "
                f"{', '.join(f'{b:.2f}s' for b in bares)}"
            )

            for path, env in (("in process", {}), ("prefect flow", NEVER)):
                print(runtime.stop(bench.home))
                url = small.url(f"/{path[0]}{args.repeat + 2}")
                wall, _ = bench.command(["ingest-urls", url], **env)
                print(
                    f"first command after a reboot (server stopped, starts again), one URL, "
                    f"{path}: {wall:.2f}s"
                )
            if not args.no_temporary:
                wall, _ = bench.command(
                    ["ingest-urls", small.url("/a1")], NEWSFLOW_PREFECT_SERVER="temporary"
                )
                print(f"one URL with the temporary per-command server (fallback): {wall:.2f}s")
        finally:
            runtime.stop(bench.home)
            parent.send("stop")
            server_proc.join(10)
            small.stop()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
