"""What a flow run did, as the typed object every flow returns, and its markdown (the run's
Prefect artifact). The terminal's rendering is the command line's (newsflow/cli/common.py).

Code reads the fields; ``summary["load"]["loaded"]`` still reads the plain-data view
(``as_dict``), and a summary equals that plain data, for scripts written against the dicts
flows used to return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from newsflow.tasks.hosttimes import HostStat, HostTimes, merge, slowest
from newsflow.warehouse.loader import LoadReport

if TYPE_CHECKING:
    from newsflow.warehouse.lake_maintenance import Maintenance

SLOWEST_HOSTS = 5


class PlainView:
    """Read access by key to the dataclass's plain data (``asdict``), and equality with it,
    for callers that treat a summary as the dict it once was. (Subclasses are dataclasses
    with ``eq=False``, so this equality holds.)"""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PlainView):
            return type(self) is type(other) and self.as_dict() == other.as_dict()
        if isinstance(other, Mapping):
            return self.as_dict() == dict(other)
        return NotImplemented

    def as_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return {k: v for k, v in plain.items() if k not in self._absent()}

    def _absent(self) -> set[str]:
        return set()

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.as_dict()


@dataclass
class FeedTally:
    """An ``ingest-feeds`` run's polls: what each feed answered, and its entries."""

    polled: int = 0
    updated: int = 0
    not_modified: int = 0
    failed: int = 0
    quarantined: int = 0
    entries: int = 0
    already_known: int = 0


@dataclass
class SitemapTally:
    """A sitemaps backfill: the sitemaps read and what became of their URLs in the range."""

    sitemaps: int = 0
    unreadable: int = 0
    in_range: int = 0
    already_loaded: int = 0
    already_failed: int = 0
    fetched: int = 0


@dataclass(eq=False)
class RunSummary(PlainView):
    """What a flow run did; returned to the caller and published as an artifact."""

    run_id: str
    flow: str
    items: int = 0
    spooled_batches: int = 0
    load: LoadReport = field(default_factory=LoadReport)
    intake_rejects: dict[str, int] = field(default_factory=dict)
    # Requests and seconds per host, filled by flows that fetch ("slowest hosts").
    hosts: HostTimes = field(default_factory=dict)
    # One dict per feed polled: url, name, status, failures, state (ok, failing,
    # quarantined, recovered), reason; quarantined/recovered also become Prefect events.
    feed_health: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    # Markdown lines a flow puts at the top of its artifact (the backfill: what was asked).
    sections: list[str] = field(default_factory=list)
    # Per flow: ingest-feeds' polls, a sitemaps backfill's sitemaps (absent elsewhere).
    feeds: FeedTally | None = None
    sitemaps: SitemapTally | None = None

    def _absent(self) -> set[str]:
        return {name for name in ("feeds", "sitemaps") if getattr(self, name) is None}

    def record_host(self, host: str, seconds: float) -> None:
        self.hosts.setdefault(host, HostStat()).add(seconds)

    def add_hosts(self, times: HostTimes) -> None:
        """A fetch batch's request times per host (``Batch.host_times``)."""
        merge(self.hosts, times)

    def markdown(self) -> str:
        return markdown(self)


@dataclass(eq=False)
class NoSeedFiles(PlainView):
    """An ``ingest-seed-batch`` run whose announced files were all ingested before (or gone):
    no ``ingest-seeds`` run, nothing considered."""

    items: int = 0


@dataclass(eq=False)
class MaintenanceReport(PlainView):
    """What a ``maintenance`` run found and did."""

    waiting_batches: int
    oldest_waiting_hours: float
    abandoned_removed: int
    feeds_reprobed: int
    run_id: str
    # The lake's maintenance (lake_maintenance.maintain_warehouse), when the warehouse is a
    # DuckLake: None (and absent from the plain data) for a single-file warehouse.
    lake: str | None = None
    snapshot_days: int | None = None
    units_folded: int = 0  # text_unit_deltas rows folded into text_units
    search_merges: int = 0  # merges of the search index's segments
    rows_flushed: int = 0
    files_merged: int = 0
    files_written: int = 0
    snapshots_expired: int = 0
    files_deleted: int = 0
    orphans_deleted: int = 0  # files of writes that never committed
    data_files: int = 0  # after maintenance
    data_bytes: int = 0
    snapshots: int = 0
    lake_error: str | None = None  # a step that failed (the next run tries again)

    _LAKE = (
        "snapshot_days",
        "units_folded",
        "search_merges",
        "rows_flushed",
        "files_merged",
        "files_written",
        "snapshots_expired",
        "files_deleted",
        "orphans_deleted",
        "data_files",
        "data_bytes",
        "snapshots",
        "lake_error",
    )

    def _absent(self) -> set[str]:
        return {"lake", *self._LAKE} if self.lake is None else set()

    def with_lake(self, done: Maintenance) -> MaintenanceReport:
        """This report with the lake's maintenance pass
        (``lake_maintenance.maintain_warehouse``)."""
        return replace(
            self,
            lake=done.target,
            snapshot_days=done.keep_days,
            units_folded=done.units_folded,
            search_merges=done.search_merges,
            rows_flushed=done.rows_flushed,
            files_merged=done.files_merged,
            files_written=done.files_written,
            snapshots_expired=done.snapshots_expired,
            files_deleted=done.files_deleted,
            orphans_deleted=done.orphans_deleted,
            data_files=done.after.files,
            data_bytes=done.after.bytes,
            snapshots=done.after.snapshots,
        )

    def markdown(self) -> str:
        lines = [
            "# maintenance: spool health",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| batches waiting for the loader | {self.waiting_batches} |",
            f"| oldest waiting (hours) | {self.oldest_waiting_hours:.1f} |",
            f"| abandoned partial batches removed | {self.abandoned_removed} |",
            f"| quarantined feeds re-probed | {self.feeds_reprobed} |",
        ]
        if self.lake is not None:
            lines += [
                "",
                f"## lake maintenance: `{self.lake}`",
                "",
                "| step | done |",
                "|---|---:|",
                f"| sentence counts folded into text_units | {self.units_folded} |",
                f"| search index segments merged | {self.search_merges} merges |",
                f"| inlined rows flushed to files | {self.rows_flushed} |",
                f"| small files merged | {self.files_merged} into {self.files_written} |",
                f"| snapshots expired (older than {self.snapshot_days} days) "
                f"| {self.snapshots_expired} |",
                f"| unused files deleted | {self.files_deleted} |",
                f"| files of writes that never committed, deleted | {self.orphans_deleted} |",
                f"| data files now | {self.data_files} ({self.data_bytes:,} bytes) |",
                f"| snapshots now | {self.snapshots} |",
            ]
            if self.lake_error:
                lines += ["", f"**Stopped:** {self.lake_error} (the next run tries again)"]
        return "\n".join(lines) + "\n"


def markdown(summary: RunSummary) -> str:
    """The run's artifact: the counts, rejects by reason, revisions, slowest hosts, feeds."""
    load = summary.load
    lines = [
        f"# {summary.flow}: run summary",
        "",
        *summary.sections,
        "| measure | count |",
        "|---|---:|",
        f"| items considered | {summary.items} |",
        f"| new articles loaded | {load.loaded} |",
        f"| of which duplicates | {load.duplicates} |",
        f"| known articles, text changed | {load.updated} |",
        f"| known articles, unchanged | {load.unchanged} |",
        f"| new sightings | {load.sightings} |",
        f"| rejected | {load.rejects} |",
        f"| batches loaded | {load.batches} |",
    ]
    if load.rejects_by_reason:
        lines += ["", "| reject reason | count |", "|---|---:|"]
        for reason, count in sorted(load.rejects_by_reason.items(), key=lambda kv: -kv[1]):
            lines.append(f"| `{reason}` | {count} |")
    if load.revised:
        lines += ["", f"Backfill revisions applied to article rows: {load.revised}."]
    lines += slowest_hosts(summary.hosts) + feed_health(summary.feed_health)
    return "\n".join(lines) + "\n"


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


def feed_health(feeds: list[dict[str, Any]]) -> list[str]:
    if not feeds:
        return []
    states: dict[str, int] = {}
    for feed in feeds:
        state = str(feed.get("state") or "ok")
        states[state] = states.get(state, 0) + 1
    lines = ["", "| feed health | feeds |", "|---|---:|"]
    lines += [f"| {state} | {count} |" for state, count in sorted(states.items())]
    troubled = [f for f in feeds if (f.get("state") or "ok") != "ok"]
    if troubled:
        lines += ["", "| feed | state | failures | reason |", "|---|---|---:|---|"]
        for feed in troubled:
            lines.append(
                f"| {feed.get('name') or feed['url']} | {feed.get('state')} "
                f"| {feed.get('failures') or 0} | {feed.get('reason') or ''} |"
            )
    return lines
