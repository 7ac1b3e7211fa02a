"""Near-duplicate detection: MinHash over word shingles, LSH bands, exact verification.

Workers compute each article's band keys (``band_keys``, ~0.2 ms a text with rensa); the
loader stores them in ``article_bands`` and finds candidates by joining a batch's keys
against every past run (warehouse/loader.py ``_merge_near_duplicates``). LSH only proposes:
every candidate pair is verified on the two texts (``is_near_duplicate``) before it joins a
cluster.

Parameters (``tests/quality/neardup.py`` measures them on real extractions with edits):
shingles of ``SHINGLE`` words, ``NUM_PERM`` permutations cut into ``BANDS`` bands of
``ROWS`` rows. Two texts share a band with probability 1 - (1 - J^ROWS)^BANDS for shingle
Jaccard J.
"""

from __future__ import annotations

import hashlib
import re
import struct

import rensa

SHINGLE = 3
BANDS = 24
ROWS = 3
NUM_PERM = BANDS * ROWS
SEED = 1_234_567
# Verification: the two texts' shingle sets overlap this much (of the smaller set), and
# the shorter text has at least MIN_LENGTH_RATIO of the longer one's shingles.
MIN_CONTAINMENT = 0.5
MIN_LENGTH_RATIO = 0.3
# Texts with fewer shingles than this get no bands: too short to call near-duplicates
# safely (exact duplicates are still found by content_hash).
MIN_SHINGLES = 10

_WORD = re.compile(r"\w+")
_PACK = struct.Struct(f"<B{ROWS}I")


def shingles(text: str) -> set[str]:
    """The set of ``SHINGLE``-word shingles of the case-folded words of ``text``."""
    words = _WORD.findall(text.casefold())
    if len(words) < SHINGLE:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def signature(items: set[str]) -> list[int]:
    sketch = rensa.RMinHash(NUM_PERM, SEED)
    sketch.update(list(items))
    return list(sketch.digest())


def band_keys(text: str) -> list[int]:
    """One signed 64-bit key per band (the band's number is in the key), or [] if short."""
    items = shingles(text)
    if len(items) < MIN_SHINGLES:
        return []
    sig = signature(items)
    keys = []
    for band in range(BANDS):
        packed = _PACK.pack(band, *sig[band * ROWS : (band + 1) * ROWS])
        digest = hashlib.blake2b(packed, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def similarity(a: set[str], b: set[str]) -> tuple[float, float]:
    """(containment of the smaller set in the other, size ratio smaller/larger)."""
    if not a or not b:
        return 0.0, 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return len(small & large) / len(small), len(small) / len(large)


def is_near_duplicate(a: set[str], b: set[str]) -> bool:
    """Whether two shingle sets are the same text give or take edits and page noise."""
    containment, ratio = similarity(a, b)
    return containment >= MIN_CONTAINMENT and ratio >= MIN_LENGTH_RATIO
