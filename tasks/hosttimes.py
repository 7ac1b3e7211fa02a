"""Per-host request times of a batch of fetches: what a run summary's "slowest hosts" shows.

Kept as a few aggregates per host (requests, total and longest seconds), never one entry per
request, so a batch hands on a handful of numbers however many pages it fetched. A request's
time is its time on the network (request sent to body read, each redirect hop on its own),
not the time it queued for the host's turn: that is our own politeness, not the host's speed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(slots=True)
class HostStat:
    requests: int = 0
    seconds: float = 0.0  # all requests together
    longest: float = 0.0

    @property
    def mean(self) -> float:
        return self.seconds / self.requests if self.requests else 0.0

    def add(self, seconds: float) -> None:
        self.requests += 1
        self.seconds += seconds
        self.longest = max(self.longest, seconds)

    def merge(self, other: HostStat) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.longest = max(self.longest, other.longest)


HostTimes = dict[str, HostStat]


def host_of(url: str) -> str:
    """``https://WWW.Example.com/x`` -> ``www.example.com``; an explicit port is kept."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return "?"
    if not host:
        return "?"
    return f"{host}:{port}" if port else host


def record(times: HostTimes, url: str, seconds: float) -> None:
    times.setdefault(host_of(url), HostStat()).add(seconds)


def merge(into: HostTimes, other: HostTimes) -> HostTimes:
    """Add ``other``'s figures to ``into`` (returned)."""
    for host, stat in other.items():
        into.setdefault(host, HostStat()).merge(stat)
    return into


@contextmanager
def timed(times: HostTimes, url: str) -> Iterator[None]:
    """Record the time the block takes (also when it fails: a timeout is a slow host)."""
    started = time.monotonic()
    try:
        yield
    finally:
        record(times, url, time.monotonic() - started)


def slowest(times: HostTimes, n: int) -> list[tuple[str, HostStat]]:
    """The ``n`` hosts with the longest mean request time, slowest first."""
    ranked = sorted(times.items(), key=lambda kv: (-kv[1].mean, kv[0]))
    return [(host, stat) for host, stat in ranked if stat.requests][:n]
