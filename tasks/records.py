"""The records that flow between stages.

Every input (a seed file, a feed entry, a URL) becomes one ``Candidate``; every later stage
takes candidates, whatever their origin. Processing turns a candidate into an ``ArticleRow``
(plus comment and sighting rows) or a ``RejectRow``; a ``Batch`` of those is what a worker
spools and the loader merges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from newsflow.tasks.hosttimes import HostTimes, merge

Origin = Literal["seed", "feed", "url"]
DateKind = Literal["published", "modified"]
# A feed poll's outcome (tasks/feeds.py classifies failures).
Outcome = Literal["ok", "not_modified", "soft", "hard", "gone"]

# Field metadata read by the spool contract (tasks/contract.py) and the loader:
# - ``INT32``: stored as a 32-bit integer (the warehouse column is INTEGER);
# - ``SPOOL_ONLY``: travels in the spool for the loader, never a column of the table;
# - what an article's revision (its text changed) does to the column: replace it
#   (the default), ``KEEP`` the stored value, ``COALESCE`` (keep it when the new one is
#   NULL), or ``with_column(c)`` (replace it only when ``c`` is replaced by a value).
INT32 = {"arrow": "int32"}
SPOOL_ONLY = {"spool_only": True}
KEEP = {"on_revision": "keep"}
COALESCE = {"on_revision": "coalesce"}


def with_column(column: str) -> dict[str, str]:
    return {"on_revision": f"with:{column}"}


WORDS_PER_MINUTE = 230  # adult silent reading of non-fiction (Brysbaert 2019: 238)


def reading_minutes(words: int) -> int:
    """Whole minutes to read ``words`` words, at least 1 for any text."""
    return max(1, round(words / WORDS_PER_MINUTE)) if words else 0


@dataclass(frozen=True, slots=True)
class DateClaim:
    """A date some source asserts for an article, and which source asserted it."""

    kind: DateKind
    value: datetime
    source: str  # e.g. "seed", "feed", "jsonld", "meta", "time", "htmldate", "url"


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth knowing about a loaded article (e.g. ``bad_date``)."""

    code: str
    detail: str


@dataclass(slots=True)
class Candidate:
    """One item from any intake, before processing."""

    origin: Origin
    source: str  # seed path, feed URL, or the URL as given
    url: str
    title: str | None = None
    dates: list[DateClaim] = field(default_factory=list)
    text: str | None = None  # clean text, when the intake already has it (seed articles)
    html: str | None = None  # a fetched page, decoded and capped
    comments: list[str] = field(default_factory=list)
    feed_url: str | None = None
    guid: str | None = None
    summary: str | None = None
    authors: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    seen_at: datetime | None = None
    # A fetched page's identity: its same-site rel=canonical/og:url, else the final URL.
    canonical: str | None = None
    # Set by extraction (tasks.articles.text_from_page) when the text came from ``html``.
    site_name: str | None = None
    description: str | None = None
    image: str | None = None
    categories: list[str] = field(default_factory=list)
    canonical_link: str | None = None  # the page's own rel=canonical / og:url
    access_status: str | None = None  # see tasks.enrich.ACCESS_STATUSES
    extractor: str | None = None  # extractor version; None when the intake had the text
    fetched_at: datetime | None = None  # when ``html`` was fetched
    # Where the page's metadata came from (JSON, tasks.articles.merge_page); None without a page.
    provenance: str | None = None


@dataclass(slots=True)
class ArticleRow:
    """An article as spooled; its fields are the ``articles`` table's columns (besides the
    ``SPOOL_ONLY`` ones). Adding a column: a field here, a migration, the view if it shows it."""

    article_id: str = field(metadata=KEEP)
    url: str = field(metadata=KEEP)
    canonical_url: str = field(metadata=KEEP)
    domain: str | None = field(metadata=KEEP)
    title: str | None
    published_at: datetime | None = field(metadata=COALESCE)
    language: str | None
    language_confidence: float | None
    text: str
    word_count: int
    content_hash: str
    origin: Origin = field(metadata=KEEP)
    ingested_at: datetime = field(metadata=KEEP)
    duplicate_of: str | None = field(default=None, metadata=KEEP)
    modified_at: datetime | None = field(default=None, metadata=COALESCE)
    published_source: str | None = field(default=None, metadata=KEEP)
    modified_source: str | None = field(default=None, metadata=with_column("modified_at"))
    authors: list[str] = field(default_factory=list, metadata=KEEP)
    site_name: str | None = field(default=None, metadata=KEEP)
    description: str | None = field(default=None, metadata=KEEP)
    image: str | None = field(default=None, metadata=KEEP)
    tags: list[str] = field(default_factory=list, metadata=KEEP)
    categories: list[str] = field(default_factory=list, metadata=KEEP)
    canonical_link: str | None = field(default=None, metadata=KEEP)
    access_status: str = "full"
    # None: derived from word_count (``reading_minutes``) when the row is made
    reading_minutes: int | None = field(default=None, metadata=INT32)
    extractor: str | None = None
    # JSON: which source gave tags, authors, image, title
    provenance: str | None = field(default=None, metadata=KEEP)
    # LSH band keys of the text's MinHash (tasks.near_duplicates); the loader stores them in
    # article_bands, not in articles.
    bands: list[int] = field(default_factory=list, metadata=SPOOL_ONLY)
    # The text's distinct shingle hashes (tasks.near_duplicates.shingle_array) when it has bands,
    # so the loader verifies near-duplicate candidates without re-reading the text.
    shingles: Any = field(default=None, metadata={**SPOOL_ONLY, "arrow": "list[int]"})

    def __post_init__(self) -> None:
        if self.reading_minutes is None:
            self.reading_minutes = reading_minutes(self.word_count)


@dataclass(frozen=True, slots=True)
class CommentRow:
    article_id: str
    position: int = field(metadata=INT32)
    text: str


@dataclass(frozen=True, slots=True)
class SightingRow:
    article_id: str
    origin: Origin
    feed_url: str | None
    guid: str | None
    url_seen: str
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class NoteRow:
    article_id: str
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class RejectRow:
    source: str
    stage: str
    reason: str
    detail: str
    run_id: str
    rejected_at: datetime


@dataclass(frozen=True, slots=True)
class RawPageRow:
    """A fetched page as received (decoded), zstd-compressed: re-extraction never refetches."""

    url: str
    article_id: str | None  # None when the page was rejected before it had one
    fetched_at: datetime
    html_hash: str  # BLAKE2b of the HTML: one row per distinct version of a page
    html_bytes: int  # size of the UTF-8 HTML before compression
    html_zstd: bytes


@dataclass(slots=True)
class FeedState:
    """A feed poll's result: validators and health, spooled for the loader (``feed_states``)."""

    url: str
    polled_at: datetime
    outcome: Outcome
    name: str | None = None
    title: str | None = None
    status: int | None = field(default=None, metadata=INT32)
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    entries: int = field(default=0, metadata=INT32)


@dataclass(frozen=True, slots=True)
class RevisionRow:
    """Derived columns of a stored article recomputed from its text (backfill ``rededup``)."""

    article_id: str
    domain: str | None
    language: str | None
    language_confidence: float | None
    word_count: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class RelinkRow:
    """A request to recompute every near-duplicate link (backfill ``rededup``; one row)."""

    run_id: str
    requested_at: datetime


@dataclass(frozen=True, slots=True)
class SeedFileRow:
    """A seed file a run read (the seed-file ledger, tasks/seedledger.py)."""

    path: str
    size: int
    content_hash: str
    items: int
    run_id: str
    ingested_at: datetime


@dataclass(frozen=True)
class SeedPrint:
    """A seed file as the ledger knows it (tasks/seedledger.py ``fingerprint``)."""

    path: str  # absolute
    size: int
    content_hash: str  # SHA-256, hex

    @property
    def key(self) -> tuple[str, str]:
        return self.path, self.content_hash


@dataclass(frozen=True, slots=True)
class PostingRow:
    """A search-index posting: a stemmed term's counts in one article's title and text."""

    term: str
    article_id: str
    title_tf: int = field(metadata=INT32)
    text_tf: int = field(metadata=INT32)


@dataclass(frozen=True)
class RunRow:
    """A flow run's row in ``runs``; a work-pool worker spools it for the loader."""

    run_id: str
    flow: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    items: int
    error: str | None = None


@dataclass(slots=True)
class Batch:
    """What one worker produced for one batch of candidates: the unit of spooling and loading."""

    run_id: str
    articles: list[ArticleRow] = field(default_factory=list)
    comments: list[CommentRow] = field(default_factory=list)
    sightings: list[SightingRow] = field(default_factory=list)
    notes: list[NoteRow] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    raw_pages: list[RawPageRow] = field(default_factory=list)
    # Not spooled: the batch's request times per host, for the run summary.
    host_times: HostTimes = field(default_factory=dict)

    def extend(self, other: Batch) -> None:
        self.articles.extend(other.articles)
        self.comments.extend(other.comments)
        self.sightings.extend(other.sightings)
        self.notes.extend(other.notes)
        self.rejects.extend(other.rejects)
        self.raw_pages.extend(other.raw_pages)
        merge(self.host_times, other.host_times)
