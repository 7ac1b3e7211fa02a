"""newsflow on a Prefect work pool: many workers, one loader.

``register(pool, source)`` creates the deployments a multi-machine setup needs on a work pool
of type ``process``: ``ingest-seeds/pool``, ``ingest-feeds/pool`` and ``ingest-urls/pool`` for the
workers, and ``load-spool/pool`` with a concurrency limit of 1, the single writer. Workers
(``prefect worker start --pool NAME --type process``) run with ``NEWSFLOW_LOAD_IN_FLOW=false``
and a shared ``NEWSFLOW_SPOOL`` (a folder every machine mounts, or an fsspec URL such as
``s3://bucket/spool``): they only write batches; the loader, on the machine holding the
DuckDB file, merges them. See deploy/README.md for the whole recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import Flow

from newsflow.flows.feeds import ingest_feeds
from newsflow.flows.maintenance import load_spool_flow
from newsflow.flows.seeds import ingest_seeds
from newsflow.flows.urls import ingest_urls

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = "pool"

# (flow, entrypoint relative to the source folder, concurrency limit)
POOL_FLOWS: list[tuple[Flow[..., Any], str, int | None]] = [
    (ingest_seeds, "flows/seeds.py:ingest_seeds", None),
    (ingest_feeds, "flows/feeds.py:ingest_feeds", None),
    (ingest_urls, "flows/urls.py:ingest_urls", None),
    (load_spool_flow, "flows/maintenance.py:load_spool_flow", 1),
]


def register(
    pool: str,
    source: str | Path = ROOT,
    loader_pool: str | None = None,
    *,
    db: Path | None = None,
) -> dict[str, UUID]:
    """Create or update the work-pool deployments; returns ``flow/deployment`` -> id.

    ``source`` is where workers find the code: this checkout's folder (the same path on every
    worker machine) or any URL ``Flow.from_source`` accepts (a git repository, object storage).
    ``loader_pool`` puts load-spool on its own pool, served by one worker on the machine that
    holds the DuckDB file (default: the same pool, for a single machine); ``db`` is the
    warehouse path it uses there (default: its own NEWSFLOW_DB).
    """
    ids: dict[str, UUID] = {}
    for flow, entrypoint, limit in POOL_FLOWS:
        is_loader = flow is load_spool_flow
        job_variables = {"env": {"NEWSFLOW_DB": str(db)}} if is_loader and db else None
        remote = flow.from_source(source=str(source), entrypoint=entrypoint)
        ids[f"{flow.name}/{DEPLOYMENT}"] = remote.deploy(  # type: ignore[union-attr,assignment]
            name=DEPLOYMENT,
            work_pool_name=(loader_pool or pool) if is_loader else pool,
            job_variables=job_variables,
            build=False,
            push=False,
            concurrency_limit=limit,
            description=f"{flow.name} on work pool {pool}",
            tags=["newsflow", "pool"],
            print_next_steps=False,
        )
    return ids
