"""The one typed configuration object, built once at the entry point and passed down.

Every variable reads from the environment with the prefix ``NEWSFLOW_`` or from a ``.env``
file in the working directory. Nothing else in the project reads the environment.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from newsflow import PROJECT_URL, __version__

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    """newsflow's settings (see the README's table for the meaning of each)."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSFLOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    db: Path = Field(Path("warehouse/news.duckdb"), description="The warehouse file.")
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

    @property
    def parallelism(self) -> int:
        """Worker processes for CPU-bound stages."""
        return self.workers or os.cpu_count() or 1

    def allows_private(self, address: str) -> bool:
        """Whether a private/loopback address was explicitly allowed by the user."""
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self.allow_private)
