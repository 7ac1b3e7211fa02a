"""The one typed configuration object, built once at the entry point and passed down.

Every variable reads from the environment with the prefix ``NEWSFLOW_`` or from a ``.env``
file in the working directory. Nothing else in the project reads the environment.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from newsflow import PROJECT_URL, __version__

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# fsspec file systems that live inside one process: a batch spooled there is never seen by
# the loader of another process, and is lost when the writer ends
_PRIVATE_FILESYSTEMS = {"memory"}
_CODE_ROOT = Path(__file__).resolve().parent.parent


def spool_problem(
    spool: str, db: Path, *, cwd: Path | None = None, lake_data: str | None = None
) -> str | None:
    """Why ``spool`` cannot be the spool, in one line, or None. The spool's maintenance removes
    abandoned batch folders, so it must never be (or contain) the warehouse's folder, the
    project or the code; and other processes must see it, as the loader reads it from theirs."""
    value = spool.strip()
    if not value:
        return "the spool may not be empty: set a folder of its own, e.g. warehouse/spool"
    protocols = [p.lower() for p in value.split("://", 1)[0].split("::")] if "://" in value else []
    private = _PRIVATE_FILESYSTEMS.intersection(protocols)
    if private:
        return (
            f"a {sorted(private)[0]}:// spool is seen by no other "
            "process (its batches would be lost): use a folder or shared storage (s3://...)"
        )
    if protocols and protocols != ["file"]:
        return None  # remote storage: nothing of this machine to protect
    path = Path(value.removeprefix("file://")).expanduser()
    base = (cwd or Path.cwd()).resolve()
    folder = (base / path).resolve()
    guarded = {
        "the warehouse's folder": (base / db.expanduser()).resolve().parent,
        "the working folder": base,
        "the project's code": _CODE_ROOT,
    }
    if lake_data and "://" not in lake_data:
        guarded["the lake's data folder"] = (base / Path(lake_data).expanduser()).resolve()
    for name, place in guarded.items():
        if place == folder or place.is_relative_to(folder):
            what = "is" if place == folder else "contains"
            return (
                f"the spool {what} {name} ({place}): it needs a folder "
                "of its own, e.g. warehouse/spool"
            )
    return None


class Settings(BaseSettings):
    """newsflow's settings (see the README's table for the meaning of each)."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSFLOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    db: Path = Field(
        Path("warehouse/news.duckdb"),
        description="The warehouse: a DuckDB file; a path ending in .ducklake for a DuckLake "
        "on this machine (that file is its SQLite catalog, its data in <path>.files/); or "
        "ducklake:postgres:<libpq connection string> for a DuckLake whose catalog is a "
        "PostgreSQL database (then set lake_data).",
    )
    lake_data: str | None = Field(
        None,
        description="Where a DuckLake warehouse keeps its data files: a folder or an fsspec "
        "URL (s3://bucket/newsflow/). Required with a PostgreSQL catalog; unset, a .ducklake "
        "lake uses the data path its catalog records, or <path>.files/ for a new one.",
    )
    snapshot_days: int = Field(
        30,
        ge=0,
        description="Days of a lake's snapshots kept by maintenance (time travel reaches back "
        "that far); older ones expire and the files only they used are deleted.",
    )
    http_timeout: float = Field(20.0, gt=0, description="Seconds for one whole HTTP request.")
    max_bytes: int = Field(
        10_000_000, gt=0, description="Largest response body read, after decompression."
    )
    user_agent: str = Field(
        f"newsflow/{__version__} (+{PROJECT_URL})", description="The User-Agent sent."
    )
    allow_private: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=list,
        description="IP addresses or CIDRs that may be fetched although private or loopback.",
    )
    respect_robots: bool = Field(True, description="Obey robots.txt.")
    per_host_concurrency: int = Field(2, ge=1, description="Parallel requests to one host.")
    per_host_delay: float = Field(
        1.0, ge=0, description="Least seconds between two requests to one host."
    )
    lock_wait: float = Field(
        300.0, ge=0, description="Seconds the loader waits for another process to release the DB."
    )
    spool: str = Field(
        "warehouse/spool", description="Where processed batches wait: a folder or an fsspec URL."
    )
    publish: bool = Field(
        True,
        description="After each load, refresh the read-only published copy analysts query.",
    )
    load_in_flow: bool = Field(
        True,
        description="Ingest flows merge the spool themselves (ingest-seeds batch by batch "
        "while its workers go on, the others at the end); false on work-pool workers, where "
        "the one load-spool deployment is the only writer.",
    )
    seed_max_bytes: int = Field(
        10_000_000,
        gt=0,
        description="Largest seed file read; a larger one is rejected (too_large) unread.",
    )
    batch_size: int = Field(500, ge=1, description="Items per processing batch.")
    workers: int = Field(
        0, ge=0, description="Worker processes for CPU-bound stages (0: one per core)."
    )
    fetch_concurrency: int = Field(
        32, ge=1, description="HTTP requests in flight at once in one fetch task (all hosts)."
    )
    http_retries: int = Field(
        2, ge=0, description="Extra attempts after a transient failure (timeout, 429, 5xx)."
    )
    retry_max_wait: float = Field(
        60.0, ge=0, description="Longest wait before a retry; a longer Retry-After gives up."
    )
    task_runner: Literal["process", "dask"] = Field(
        "process",
        description="Where ingest-seeds and ingest-urls run their batch tasks (processing, "
        "extraction): local processes, or a Dask cluster (the optional `dask` extra).",
    )
    dask_address: str | None = Field(
        None,
        description="With task_runner=dask: the scheduler of an existing Dask cluster "
        "(tcp://host:8786); unset, each run starts a local cluster of worker processes.",
    )

    inline: Literal["auto", "never", "always"] = Field(
        "auto",
        description="`auto`: ingest commands run in the command's process (workers only for "
        "big work), recorded in the Prefect server through its API; with "
        "NEWSFLOW_TASK_RUNNER=dask only small work does (a few URLs, a feed poll bringing few "
        "new pages, a few seed files) and the rest runs as the Prefect flow; `never`: every "
        "command runs its Prefect flow; `always`: every ingest command runs in process, "
        "whatever the task runner.",
    )
    prefect_server: Literal["local", "temporary"] = Field(
        "local",
        description="Without PREFECT_API_URL: `local` keeps one Prefect server (with its UI) "
        "running between commands (`newsflow server start|stop|status`); `temporary` starts "
        "one for each command and stops it after (no UI; the runs are not kept).",
    )
    prefect_port: int = Field(
        4200,
        ge=0,
        le=65535,
        description="Port of the local Prefect server (0, or in use by another program: "
        "any free port; `newsflow server status` says which).",
    )

    @field_validator("allow_private", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [
                ipaddress.ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip()
            ]
        return value

    @field_validator("lake_data")
    @classmethod
    def _lake_data(cls, value: str | None) -> str | None:
        # Whether the warehouse needs it (a PostgreSQL catalog does) is for
        # warehouse/storage.py, which reads how a warehouse is named: every command checks it
        # before any work, and a new lake is not made without it.
        return value.strip() or None if value else None

    @field_validator("spool")
    @classmethod
    def _spool_is_safe(cls, value: str, info: ValidationInfo) -> str:
        db = info.data.get("db")  # declared before the spool, so already validated
        problem = spool_problem(
            value,
            db if isinstance(db, Path) else Path("warehouse/news.duckdb"),
            lake_data=info.data.get("lake_data"),
        )
        if problem:
            raise ValueError(problem)
        return value

    @property
    def parallelism(self) -> int:
        """Worker processes for CPU-bound stages."""
        return self.workers or os.cpu_count() or 1

    def allows_private(self, address: str) -> bool:
        """Whether a private/loopback address was explicitly allowed by the user."""
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self.allow_private)
