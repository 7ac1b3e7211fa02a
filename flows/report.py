"""Extra sections of the run-summary artifact: revisions, slowest hosts, feed health."""

from __future__ import annotations

from statistics import fmean
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flows.common import RunSummary

SLOWEST_HOSTS = 5


def slowest_hosts(host_seconds: dict[str, list[float]], n: int = SLOWEST_HOSTS) -> list[str]:
    if not host_seconds:
        return []
    ranked = sorted(host_seconds.items(), key=lambda kv: -fmean(kv[1]) if kv[1] else 0.0)[:n]
    lines = [
        "",
        "| slowest hosts | requests | mean s | max s |",
        "|---|---:|---:|---:|",
    ]
    for host, times in ranked:
        if times:
            lines.append(f"| {host} | {len(times)} | {fmean(times):.2f} | {max(times):.2f} |")
    return lines


def feed_health(summary: RunSummary) -> list[str]:
    if not summary.feed_health:
        return []
    states: dict[str, int] = {}
    for feed in summary.feed_health:
        state = str(feed.get("state") or "ok")
        states[state] = states.get(state, 0) + 1
    lines = ["", "| feed health | feeds |", "|---|---:|"]
    lines += [f"| {state} | {count} |" for state, count in sorted(states.items())]
    troubled = [f for f in summary.feed_health if (f.get("state") or "ok") != "ok"]
    if troubled:
        lines += ["", "| feed | state | failures | reason |", "|---|---|---:|---|"]
        for feed in troubled:
            lines.append(
                f"| {feed.get('name') or feed['url']} | {feed.get('state')} "
                f"| {feed.get('failures') or 0} | {feed.get('reason') or ''} |"
            )
    return lines


def summary_extras(summary: RunSummary) -> list[str]:
    lines: list[str] = []
    if summary.load.revised:
        lines += ["", f"Backfill revisions applied to article rows: {summary.load.revised}."]
    return lines + slowest_hosts(summary.host_seconds) + feed_health(summary)
