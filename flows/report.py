"""Extra sections of the run-summary artifact: revisions, slowest hosts, feed health."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.hosttimes import HostTimes, slowest

if TYPE_CHECKING:
    from flows.common import RunSummary

SLOWEST_HOSTS = 5


def slowest_hosts(times: HostTimes, n: int = SLOWEST_HOSTS) -> list[str]:
    """The hosts with the longest mean request time, slowest first."""
    ranked = slowest(times, n)
    if not ranked:
        return []
    lines = [
        "",
        "| slowest hosts | requests | mean s | max s |",
        "|---|---:|---:|---:|",
    ]
    for host, stat in ranked:
        lines.append(f"| {host} | {stat.requests} | {stat.mean:.2f} | {stat.longest:.2f} |")
    if len(times) > n:
        lines.append(f"| ({len(times) - n} more hosts) | | | |")
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
    return lines + slowest_hosts(summary.hosts) + feed_health(summary)
