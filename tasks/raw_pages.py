"""Raw HTML of every fetch, zstd-compressed, so re-extraction never refetches.

One ``raw_pages`` row per distinct (URL, HTML) pair: refetching an unchanged page adds
nothing. ``page_html`` gives the decoded HTML back for re-extraction.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime

import zstandard

from newsflow.tasks.records import Candidate, RawPageRow

# Level 3 is zstd's default: ~5x on HTML at well under a millisecond per page.
ZSTD_LEVEL = 3


@functools.cache
def _compressor() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL)


def raw_page(candidate: Candidate, article_id: str | None, now: datetime) -> RawPageRow:
    assert candidate.html is not None
    data = candidate.html.encode("utf-8", "surrogatepass")
    return RawPageRow(
        url=candidate.url,
        article_id=article_id,
        fetched_at=candidate.fetched_at or candidate.seen_at or now,
        html_hash=hashlib.blake2b(data, digest_size=16).hexdigest(),
        html_bytes=len(data),
        html_zstd=_compressor().compress(data),
    )


def page_html(html_zstd: bytes) -> str:
    """The HTML a ``raw_pages`` row holds."""
    return zstandard.ZstdDecompressor().decompress(html_zstd).decode("utf-8", "surrogatepass")
